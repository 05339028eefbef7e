#include "chunk_executor.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_group.h>

#include <chrono>
#include <mutex>
#include <vector>

namespace quantd::client {

StatusOr<MeasuredEncoding> EncodeChunkLocally(const ChunkTask& task) {
  const TensorPlan& t = *task.tensor;
  const int64_t rows = task.rows.row_end - task.rows.row_begin;
  std::vector<float> values(static_cast<size_t>(rows * t.matrix.cols));
  QUANTD_RETURN_IF_ERROR(ConvertToFloat(t.entry->info->dtype, task.source, values));
  RowBlock block{.tensor_name = t.name(),
                 .shape = t.entry->info->shape,
                 .source_dtype = t.entry->info->dtype,
                 .row_begin = task.rows.row_begin,
                 .rows = rows,
                 .cols = t.matrix.cols,
                 .data = values,
                 .calibration = t.calibration.get()};
  return EncodeAndMeasure(block, t.method, t.params, {.device = t.device});
}

Status LocalExecutor::RunAll(std::span<const ChunkTask> tasks,
                             const std::function<Status(size_t, ChunkOutcome&&)>& on_done) {
  std::mutex mu;
  Status first_error;
  tbb::task_group_context ctx;
  tbb::parallel_for(
      tbb::blocked_range<size_t>(0, tasks.size(), 1),
      [&](const tbb::blocked_range<size_t>& r) {
        for (size_t i = r.begin(); i < r.end(); ++i) {
          const auto start = std::chrono::steady_clock::now();
          auto result = EncodeChunkLocally(tasks[i]);
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.ok()) return;
          Status s = result.ok() ? on_done(i, ChunkOutcome{std::move(*result), "in-process", secs, 0})
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
