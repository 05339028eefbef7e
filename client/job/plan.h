// File: plan.h
//
// Deciding what happens to each tensor of a checkpoint (quantize with which method and
// parameters, or copy unchanged, and why) and cutting quantized tensors into chunks.
// Planning is pure: the same checkpoint and options always give the same plan, which is what
// makes outputs byte-identical however the chunks are later executed.
#ifndef QUANTD_CLIENT_JOB_PLAN_H_
#define QUANTD_CLIENT_JOB_PLAN_H_

#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "client/io/safetensors_reader.h"
#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"
#include "quantd/core/method.h"
#include "quantd/core/params.h"

namespace quantd::client {

// --override 'REGEX=method[:key=value,...]': tensors whose name matches REGEX use this method
// and parameters instead of the job's (method "copy" keeps them unquantized). The first
// matching override wins. REGEX ends at the first '=', so it cannot contain one.
struct OverrideRule {
  std::string pattern;
  std::regex regex;
  std::string method;
  Params params;
  static StatusOr<OverrideRule> Parse(const std::string& text);
};

struct PlanOptions {
  std::string method = "rtn";
  Params params;
  // Tensors whose name matches any of these (std::regex ECMAScript, searched anywhere in the
  // name) are copied unquantized.
  std::vector<std::string> skip;
  // By default embeddings (names containing "embed") are copied, as llama.cpp and most tools do.
  bool quantize_embeddings = false;
  std::vector<OverrideRule> overrides;
  // Upper bound on a chunk's source bytes (at least one row per chunk).
  uint64_t chunk_bytes = uint64_t{4} << 20;
};

struct TensorPlan {
  const Checkpoint::Entry* entry = nullptr;
  bool quantize = false;
  std::string reason;  // why it is copied ("1-D", "embedding", "--skip ...", "dtype I64")
  std::string method;
  Params params;  // resolved
  MatrixShape matrix;
  // Calibration data for this tensor (views into calibration files), or null.
  std::shared_ptr<const Calibration> calibration;
  // The chunks, in row order, with resolved parameters.
  std::vector<ChunkSpec> chunks;

  const std::string& name() const { return entry->info->name; }
  // The source bytes of `chunk` (a view into the mapped checkpoint).
  std::span<const uint8_t> Source(const ChunkSpec& chunk) const;
};

// Row ranges [begin, end) of as many whole rows of `row_bytes` as fit in `chunk_bytes` (at least
// one per range), or one range of all rows when the method cannot split the tensor.
std::vector<std::pair<int64_t, int64_t>> SplitRows(int64_t rows, int64_t row_bytes, uint64_t chunk_bytes,
                                                   bool allow_split);

// Plans every tensor of `checkpoint`, in name order. Errors (unknown method, bad parameters for
// a tensor) name the tensor.
StatusOr<std::vector<TensorPlan>> PlanCheckpoint(const Checkpoint& checkpoint, const PlanOptions& options);

// A safetensors file of per-tensor calibration data of one kind (F32, keyed by tensor name:
// Hessians [cols, cols], column maxima [cols]).
struct CalibrationFile {
  CalibrationKind kind = CalibrationKind::kNone;
  const SafetensorsFile* file = nullptr;
};

// Attaches calibration data to the quantized tensors whose method consumes that kind
// (Method::calibration) and that the file names, turning the method's switch parameter on (it is
// recorded) and re-resolving. The views point into the files, which must outlive the plans. A
// file that serves no tensor at all is INVALID_ARGUMENT.
Status AttachCalibration(std::vector<TensorPlan>& plans, std::span<const CalibrationFile> files);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_PLAN_H_
