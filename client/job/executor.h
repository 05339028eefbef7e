// File: executor.h
//
// Where a job's chunks get encoded. A quantization job hands every chunk it still needs to a
// `ChunkExecutor` and receives each one's ChunkRecord (encoding, quality, provenance). The
// in-process one (`LocalExecutor`) runs them on this machine's TBB pool through the core's
// EncodeChunk; client/remote/ has the one that uses quantd servers.
#ifndef QUANTD_CLIENT_JOB_EXECUTOR_H_
#define QUANTD_CLIENT_JOB_EXECUTOR_H_

#include <functional>
#include <span>

#include "core/record/chunk_record.h"
#include "quantd/core/chunk.h"
#include "quantd/core/device.h"
#include "quantd/core/quantize.h"

namespace quantd::client {

// A chunk ready to encode: its spec (resolved parameters), source bytes and calibration.
struct ChunkInput {
  ChunkSpec spec;
  std::span<const uint8_t> source;           // the rows' bytes in spec.dtype (a view)
  const Calibration* calibration = nullptr;  // may be null
  // Drops `source`'s pages once they were read (the mapped checkpoint's ReleasePages); may be
  // null.
  std::function<void(std::span<const uint8_t>)> release;
};

// Called once per finished chunk, one call at a time, in any order; an error it returns stops
// the run.
using ChunkDone = std::function<Status(size_t index, ChunkRecord&& record)>;

class ChunkExecutor {
 public:
  virtual ~ChunkExecutor() = default;
  // Encodes every chunk, where `device` asks. Returns the first error (a failed chunk names its
  // tensor). The records' `key` is left for the caller.
  virtual Status RunAll(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done) = 0;
};

class LocalExecutor final : public ChunkExecutor {
 public:
  Status RunAll(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done) override;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_EXECUTOR_H_
