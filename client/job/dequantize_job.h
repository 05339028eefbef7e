// File: dequantize_job.h
//
// `quantctl dequantize`: decode every encoded tensor of a quantized checkpoint back to floating
// point, copy the plain ones, and write an ordinary checkpoint.
#ifndef QUANTD_CLIENT_JOB_DEQUANTIZE_JOB_H_
#define QUANTD_CLIENT_JOB_DEQUANTIZE_JOB_H_

#include <optional>
#include <ostream>
#include <string>

#include "client/job/quantize_job.h"
#include "quantd/core/dtype.h"
#include "quantd/core/status.h"

namespace quantd::client {

struct DequantizeJobOptions {
  std::string input;
  std::string output;
  // Output dtype for decoded tensors; by default each tensor's recorded source dtype.
  std::optional<DType> dtype;
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
  bool overwrite = false;  // write into an existing folder holding files (CheckpointWriteOptions)
};

Status RunDequantizeJob(const DequantizeJobOptions& options, std::ostream* log);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_DEQUANTIZE_JOB_H_
