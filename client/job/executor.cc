#include "client/job/executor.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_group.h>

#include <chrono>
#include <mutex>

namespace quantd::client {

Status LocalExecutor::RunAll(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done) {
  std::mutex mu;
  Status first_error;
  tbb::task_group_context ctx;
  tbb::parallel_for(
      tbb::blocked_range<size_t>(0, chunks.size(), 1),
      [&](const tbb::blocked_range<size_t>& r) {
        for (size_t i = r.begin(); i < r.end(); ++i) {
          const ChunkInput& c = chunks[i];
          const auto start = std::chrono::steady_clock::now();
          auto result = EncodeChunk(c.spec, c.source, c.calibration, {.device = device});
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (c.release) c.release(c.source);
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.ok()) return;
          Status s = result.ok()
                         ? on_done(i, ChunkRecord{.tensor = c.spec.tensor,
                                                  .result = std::move(*result),
                                                  .key = {},
                                                  .provenance = {.worker = "in-process", .seconds = secs}})
                         : result.status();
          if (!s.ok()) {
            first_error = s;
            ctx.cancel_group_execution();
            return;
          }
        }
      },
      tbb::simple_partitioner(), ctx);
  return first_error;
}

}  // namespace quantd::client
