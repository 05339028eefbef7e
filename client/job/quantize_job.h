// File: quantize_job.h
//
// `quantctl quantize` as a job in five steps, each a function of quantize_job.cc:
//
//   plan     open the checkpoint (memory-mapped) and decide every tensor's fate (plan.h),
//            attaching calibration data;
//   resume   key every chunk (ComputeChunkKey) and keep those whose record the journal already
//            holds (journal.h);
//   execute  hand the rest to an executor (in-process or quantd servers) and journal each
//            record as it arrives;
//   join     read every record's header once: section shapes, slice index, stats and quality
//            per tensor;
//   write    write the checkpoint in one pass, copying each record's sections to their final
//            place (io/quantized_layout.h, io/checkpoint_writer.h), then the report.
//
// Encodings are never all held in memory: peak memory follows the chunks in flight.
#ifndef QUANTD_CLIENT_JOB_QUANTIZE_JOB_H_
#define QUANTD_CLIENT_JOB_QUANTIZE_JOB_H_

#include <ostream>
#include <string>
#include <vector>

#include "client/job/executor.h"
#include "client/job/plan.h"
#include "client/job/progress.h"
#include "client/job/report.h"

namespace quantd::client {

inline constexpr uint64_t kDefaultMaxShardBytes = uint64_t{4} << 30;

struct QuantizeJobOptions {
  std::string input;   // .safetensors file, index .json, or folder
  std::string output;  // .safetensors file, or a folder
  PlanOptions plan;
  Device device = Device::kAuto;  // where chunks are encoded (asked of the servers when remote)
  std::string report_path;        // optional JSON report
  std::string journal_dir;        // default: OUTPUT.journal
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;  // folder outputs only
  bool overwrite = false;  // write into an existing folder holding files (CheckpointWriteOptions)
  // Calibration files (safetensors of per-tensor F32 data, keyed by tensor name), by kind.
  struct Calibration {
    CalibrationKind kind = CalibrationKind::kNone;
    std::string path;
  };
  std::vector<Calibration> calibration;
  Progress::Style progress = Progress::Style::kNone;
};

// Runs the job with `executor`. Progress and notes go to `log` (may be null).
StatusOr<JobReport> RunQuantizeJob(const QuantizeJobOptions& options, ChunkExecutor& executor,
                                   std::ostream* log);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_QUANTIZE_JOB_H_
