// File: encoding.h
//
// `quantd::Encoding`: what a method produces for a block of rows of one tensor, and everything a
// decoder needs to rebuild them: the method's name, its resolved parameters, the source tensor's
// shape and dtype, the row range, and named typed sections (codes, scales, centroids, ...).
//
// Every section's first dimension is its "leading" dimension: when the encodings of consecutive
// row blocks (slices) of one tensor are stored together, each section is concatenated along it
// (see tensor_encoding.h and docs/FORMAT.md). Per-row data therefore has shape [rows, ...];
// per-slice data (a codebook) has shape [1, ...] or [n, ...].
#ifndef QUANTD_CORE_ENCODING_H_
#define QUANTD_CORE_ENCODING_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quantd/core/dtype.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"

namespace quantd {

struct Section {
  std::string name;
  DType dtype = DType::kU8;
  std::vector<int64_t> shape;  // row-major; product * DTypeSize(dtype) == data.size()
  std::vector<uint8_t> data;   // little-endian elements

  // A zero-filled section. REQUIRES: the shape's element count is small enough to allocate.
  static Section Zeros(std::string name, DType dtype, std::vector<int64_t> shape);
  int64_t num_elements() const;

  // Typed views. REQUIRES: sizeof(T) == DTypeSize(dtype). The storage comes from operator new,
  // which aligns it for every arithmetic type.
  template <typename T>
  std::span<const T> view() const {
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
  template <typename T>
  std::span<T> mutable_view() {
    return {reinterpret_cast<T*>(data.data()), data.size() / sizeof(T)};
  }

  friend bool operator==(const Section&, const Section&) = default;
};

// Rows x cols view of a tensor shape: rank >= 2 is prod(shape[:-1]) x shape[-1], rank 1 is one
// row, rank 0 is a single element. INVALID_ARGUMENT for negative dimensions or element counts
// that overflow (the "absurd shapes" check every entry point runs first).
struct MatrixShape {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t num_elements() const { return rows * cols; }
};
StatusOr<MatrixShape> MatrixShapeOf(std::span<const int64_t> shape);
// Largest tensor (elements) quantd accepts: 2^40, well beyond any real weight.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

struct Encoding {
  std::string method;
  Params params;               // resolved: every value the encoder used
  std::vector<int64_t> shape;  // the whole source tensor's shape
  DType source_dtype = DType::kF32;
  int64_t row_begin = 0;  // rows [row_begin, row_end) of the tensor's matrix view
  int64_t row_end = 0;
  int64_t cols = 0;  // row length
  std::vector<Section> sections;
  // Deterministic by-products worth reporting (iterations, kernel proportion, clamp counts).
  // Not needed to decode.
  std::map<std::string, double> stats;

  int64_t rows() const { return row_end - row_begin; }
  int64_t num_weights() const { return rows() * cols; }

  const Section* Find(std::string_view name) const;
  Section* FindMutable(std::string_view name);
  // The named section, checked to have `dtype` and exactly `shape`; INVALID_ARGUMENT (naming the
  // section and what was expected) otherwise. Decoders use this on untrusted input.
  StatusOr<const Section*> Require(std::string_view name, DType dtype, std::span<const int64_t> shape) const;

  // Storage cost. Every section's bytes count, and every resolved parameter counts as
  // kParamBits, once per encoding (parameters are stored once per tensor in a checkpoint).
  static constexpr int kParamBits = 32;
  uint64_t SectionBytes() const;
  uint64_t StorageBits() const;
  double BitsPerWeight() const;

  friend bool operator==(const Encoding&, const Encoding&) = default;
};

}  // namespace quantd

#endif  // QUANTD_CORE_ENCODING_H_
