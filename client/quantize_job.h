// File: quantize_job.h
//
// The whole-checkpoint jobs behind `quantctl quantize` and `quantctl dequantize`.
//
// Quantize: open the checkpoint, plan it (quantize_plan.h), hand the chunks to an executor,
// join each tensor's slices, measure them, and write the quantized checkpoint (quantized_layout.h)
// plus the report. Dequantize: decode every encoded tensor of a quantized checkpoint back to
// floating point in a plain safetensors checkpoint.
#ifndef QUANTD_CLIENT_QUANTIZE_JOB_H_
#define QUANTD_CLIENT_QUANTIZE_JOB_H_

#include <optional>
#include <ostream>
#include <string>

#include "chunk_executor.h"
#include "quantize_plan.h"
#include "report.h"

namespace quantd::client {

struct QuantizeJobOptions {
  std::string input;   // .safetensors file, index .json, or folder
  std::string output;  // .safetensors file, or a folder (gets model.safetensors)
  PlanOptions plan;
  std::string report_path;  // optional JSON report
};

// Runs the job with `executor`. Progress lines go to `log` (may be null).
StatusOr<JobReport> RunQuantizeJob(const QuantizeJobOptions& options, ChunkExecutor& executor, std::ostream* log);

struct DequantizeJobOptions {
  std::string input;
  std::string output;
  // Output dtype for decoded tensors; by default each tensor's recorded source dtype.
  std::optional<DType> dtype;
};

Status RunDequantizeJob(const DequantizeJobOptions& options, std::ostream* log);

// Where a job writes its single output file: `output` itself when it ends in ".safetensors",
// otherwise `output`/model.safetensors (the folder is created).
StatusOr<std::string> OutputFilePath(const std::string& output);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_QUANTIZE_JOB_H_
