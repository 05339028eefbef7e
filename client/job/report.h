// File: report.h
//
// The quality report of a quantization job: per tensor, what was done and how well, and the
// summary table printed at the end of a run. Written as JSON with --report.
#ifndef QUANTD_CLIENT_JOB_REPORT_H_
#define QUANTD_CLIENT_JOB_REPORT_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "quantd/core/dtype.h"
#include "quantd/core/metrics.h"
#include "quantd/core/params.h"

namespace quantd::client {

struct TensorReport {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;
  bool quantized = false;
  std::string reason;  // why copied
  std::string method;
  Params params;
  Metrics metrics;  // bits_per_weight counts every stored byte of the tensor
  std::map<std::string, double> stats;
  int64_t chunks = 0;
  double seconds = 0;                               // summed over chunks
  std::map<std::string, int64_t> chunks_by_worker;  // "in-process" or a server address
  int64_t retries = 0;
};

// This process's peak resident set size (Linux VmHWM), or 0.
uint64_t PeakRssBytes();

struct JobReport {
  std::string input;
  std::string output;
  std::vector<TensorReport> tensors;
  double wall_seconds = 0;
  uint64_t input_bytes = 0;     // bytes of the quantized tensors' source data
  uint64_t output_bytes = 0;    // size of the written file(s)
  int64_t resumed_chunks = 0;   // chunks taken from the resume journal instead of being encoded
  uint64_t peak_rss_bytes = 0;  // this process's peak resident memory (VmHWM), 0 where unknown

  std::string ToJson() const;
  // One line per tensor, then a line per method: tensors, bits per weight, mean SQNR, time.
  void PrintTable(std::ostream& out) const;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_REPORT_H_
