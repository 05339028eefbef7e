// File: tensor_encoding.h
//
// `quantd::TensorEncoding`: the encodings of all row blocks (slices) of one tensor, in row order,
// and their flat form: every section concatenated along its leading dimension plus an index
// that says which part belongs to which slice. The flat form is what a checkpoint stores
// (docs/FORMAT.md); splitting it gives back the slices byte for byte.
#ifndef QUANTD_CORE_TENSOR_ENCODING_H_
#define QUANTD_CORE_TENSOR_ENCODING_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "quantd/core/encoding.h"
#include "quantd/core/metrics.h"
#include "quantd/core/status.h"

namespace quantd {

// Name of the index section in the flat form. Its shape is [slices, 2 + sections]: per slice
// row_begin, row_end, then the leading-dimension length of each section in `section_names`
// order.
inline constexpr char kSliceIndexSection[] = "slices";

struct FlatTensorEncoding {
  std::string method;
  Params params;
  std::vector<int64_t> shape;
  DType source_dtype = DType::kF32;
  std::vector<std::string> section_names;  // in the order of the index columns
  std::vector<Section> sections;           // same order; plus the index as the last entry
  std::map<std::string, double> stats;     // summed (or max-ed, "*_max") over slices

  double BitsPerWeight() const;  // all sections (index included) + parameters once
};

// Checks that `slices` are the encodings of consecutive row blocks covering the whole tensor
// (same method, params, shape and dtype; section names, dtypes and trailing dimensions agree),
// then concatenates them.
StatusOr<FlatTensorEncoding> FlattenSlices(const std::vector<Encoding>& slices);

// Inverse of FlattenSlices; validates the index against the sections (untrusted input).
StatusOr<std::vector<Encoding>> SplitSlices(const FlatTensorEncoding& flat);

}  // namespace quantd

#endif  // QUANTD_CORE_TENSOR_ENCODING_H_
