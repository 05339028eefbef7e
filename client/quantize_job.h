// File: quantize_job.h
//
// The whole-checkpoint jobs behind `quantctl quantize` and `quantctl dequantize`.
//
// Quantize: open the checkpoint (memory-mapped), plan it (quantize_plan.h), skip the chunks the
// resume journal already holds (journal.h), hand the others to an executor (in-process or quantd
// servers), journal each result as it arrives, then join each tensor's slices from the journal
// and write the quantized checkpoint (quantized_layout.h, checkpoint_writer.h) and the report.
// Encodings are never all held in memory: peak memory follows the chunks in flight.
//
// Dequantize: decode every encoded tensor of a quantized checkpoint back to floating point.
#ifndef QUANTD_CLIENT_QUANTIZE_JOB_H_
#define QUANTD_CLIENT_QUANTIZE_JOB_H_

#include <optional>
#include <ostream>
#include <string>

#include "chunk_executor.h"
#include "progress.h"
#include "quantize_plan.h"
#include "report.h"

namespace quantd::client {

inline constexpr uint64_t kDefaultMaxShardBytes = uint64_t{4} << 30;

struct QuantizeJobOptions {
  std::string input;   // .safetensors file, index .json, or folder
  std::string output;  // .safetensors file, or a folder
  PlanOptions plan;
  std::string report_path;    // optional JSON report
  std::string journal_dir;    // default: OUTPUT.journal
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;  // folder outputs only
  std::string hessian_path;     // safetensors of per-tensor Hessians (PVQ)
  std::string column_max_path;  // safetensors of per-tensor static column maxima (CrossQuant)
  Progress::Style progress = Progress::Style::kNone;
};

// Runs the job with `executor`. Progress and notes go to `log` (may be null).
StatusOr<JobReport> RunQuantizeJob(const QuantizeJobOptions& options, ChunkExecutor& executor, std::ostream* log);

struct DequantizeJobOptions {
  std::string input;
  std::string output;
  // Output dtype for decoded tensors; by default each tensor's recorded source dtype.
  std::optional<DType> dtype;
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
};

Status RunDequantizeJob(const DequantizeJobOptions& options, std::ostream* log);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_QUANTIZE_JOB_H_
