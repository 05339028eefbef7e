// File: quantize_plan.h
//
// Deciding what happens to each tensor of a checkpoint (quantize with which method and
// parameters, or copy unchanged, and why) and cutting quantized tensors into row chunks.
// Planning is pure: the same checkpoint and options always give the same plan, which is what
// makes outputs byte-identical however the chunks are later executed.
#ifndef QUANTD_CLIENT_QUANTIZE_PLAN_H_
#define QUANTD_CLIENT_QUANTIZE_PLAN_H_

#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "quantd/core/device.h"
#include "quantd/core/encoding.h"
#include "quantd/core/params.h"
#include "quantd/core/tensor.h"
#include "safetensors_reader.h"

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
  // Where chunks are encoded (in-process, or asked of the servers).
  Device device = Device::kAuto;
};

struct ChunkPlan {
  int64_t row_begin = 0;
  int64_t row_end = 0;
};

struct TensorPlan {
  const Checkpoint::Entry* entry = nullptr;
  bool quantize = false;
  std::string reason;  // why it is copied ("1-D", "embedding", "--skip ...", "dtype I64")
  std::string method;
  Params params;       // resolved
  MatrixShape matrix;
  std::vector<ChunkPlan> chunks;
  Device device = Device::kAuto;
  // Calibration data for this tensor (CrossQuant column maxima, PVQ Hessian), or null.
  std::shared_ptr<const Calibration> calibration;

  const std::string& name() const { return entry->info->name; }
};

// Rows per chunk: as many whole rows of `row_bytes` as fit in `chunk_bytes`, at least one; or
// all rows when the method cannot split the tensor.
std::vector<ChunkPlan> PlanRowChunks(int64_t rows, int64_t row_bytes, uint64_t chunk_bytes, bool allow_split);

// Attaches calibration data to the quantized tensors that have it: `hessians` holds F32
// [cols, cols] matrices and `column_max` F32 [cols] vectors, keyed by tensor name (either may be
// null). The views point into the files, which must outlive the plans.
Status AttachCalibration(std::vector<TensorPlan>& plans, const SafetensorsFile* hessians,
                         const SafetensorsFile* column_max);

// Plans every tensor of `checkpoint`, in name order. Errors (unknown method, bad parameters for
// a tensor) name the tensor.
StatusOr<std::vector<TensorPlan>> PlanCheckpoint(const Checkpoint& checkpoint, const PlanOptions& options);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_QUANTIZE_PLAN_H_
