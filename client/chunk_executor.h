// File: chunk_executor.h
//
// Where chunks get encoded. A quantization job hands every chunk of its plan to a
// `ChunkExecutor`; the in-process one (`LocalExecutor`) runs them on this machine's TBB pool.
// Each chunk's result carries the encoding, its error against the source, and who did it.
#ifndef QUANTD_CLIENT_CHUNK_EXECUTOR_H_
#define QUANTD_CLIENT_CHUNK_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "quantd/core/quantize.h"
#include "quantize_plan.h"

namespace quantd::client {

struct ChunkTask {
  const TensorPlan* tensor = nullptr;
  size_t tensor_index = 0;
  size_t chunk_index = 0;
  ChunkPlan rows;
  std::span<const uint8_t> source;  // the rows' bytes in the tensor's source dtype
};

struct ChunkOutcome {
  MeasuredEncoding result;
  std::string worker;   // "in-process" or a server address
  double seconds = 0;   // encode time reported by the worker
  int retries = 0;
};

class ChunkExecutor {
 public:
  virtual ~ChunkExecutor() = default;
  // Runs every task. `on_done(i, outcome)` is called once per task, from one thread at a time,
  // in any order; an error it returns stops the run. Returns the first error (a failed chunk
  // names its tensor and rows).
  virtual Status RunAll(std::span<const ChunkTask> tasks,
                        const std::function<Status(size_t, ChunkOutcome&&)>& on_done) = 0;
};

// Converts a chunk's source bytes to floats and encodes them in this process.
StatusOr<MeasuredEncoding> EncodeChunkLocally(const ChunkTask& task);

class LocalExecutor final : public ChunkExecutor {
 public:
  Status RunAll(std::span<const ChunkTask> tasks,
                const std::function<Status(size_t, ChunkOutcome&&)>& on_done) override;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_CHUNK_EXECUTOR_H_
