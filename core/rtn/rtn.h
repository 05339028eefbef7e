// File: rtn.h
//
// RTN: round-to-nearest, per group, the baseline every report compares with.
//
// Each row is cut into groups of `group_size` consecutive weights (the last group of a row may
// be shorter). A group stores one scale d and one b-bit code per weight:
//
//   m = the group's element of largest magnitude (first one on ties), with its sign
//   d = m / -2^(b-1)                                 (rounded to the scale dtype)
//   q = clamp(round_half_even(x / d), -2^(b-1), 2^(b-1) - 1);  code = q + 2^(b-1)
//   x_hat = (code - 2^(b-1)) * d
//
// This is symmetric abs-max quantization that uses all 2^b levels: the extreme element lands
// exactly on -2^(b-1) (ggml's Q4_0 rule, generalised to any width). Zero is always exact.
//
// Sections: "codes" U8[rows, ceil(cols*b/8)] (each row bit-packed on its own, so rows of
// different blocks concatenate), "scales" F16 or F32 [rows, ceil(cols/group_size)].
#ifndef QUANTD_CORE_RTN_RTN_H_
#define QUANTD_CORE_RTN_RTN_H_

#include <cstdint>
#include <span>

#include "core/common/isa.h"
#include "quantd/core/dtype.h"
#include "quantd/core/method.h"
#include "quantd/core/params.h"

namespace quantd {

// The parameters; the defaults are these initializers, the ranges and help the table in rtn.cc.
struct RtnOptions {
  int bits = 4;
  int64_t group_size = 128;  // groups never cross rows
  DType scale_dtype = DType::kF16;

  static StatusOr<RtnOptions> FromParams(const Params& p);
  Params ToParams() const;

  int64_t groups_per_row(int64_t cols) const { return (cols + group_size - 1) / group_size; }
};

const Method& RtnMethod();

namespace rtn_internal {

// One row: codes packed into `codes` (PackedBytes(cols, bits) bytes), scales written as
// scale_dtype into `scales` (groups_per_row * DTypeSize bytes). Returns false when a scale is not
// finite in scale_dtype (|x| beyond what F16 scales can express); the row is then unusable.
// The plain reference, written for clarity; every fast path must match it bit for bit.
bool EncodeRowRef(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, uint8_t* scales);
void DecodeRowRef(const uint8_t* codes, const uint8_t* scales, int64_t cols, const RtnOptions& o, float* out);
// The fast path used by the method (rtn_rows.cc), in the instruction-set variant `isa` (kAuto:
// the best this CPU runs). Every variant gives the reference's bytes. It also checks the input
// (the method's ChecksFiniteInput), so it returns flags: kRowOk, or kRowScaleNotFinite and/or
// kRowInputNotFinite (a row with Inf or NaN; its codes and scales are then meaningless).
enum : int { kRowOk = 0, kRowScaleNotFinite = 1, kRowInputNotFinite = 2 };
int EncodeRow(Isa isa, const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, uint8_t* scales);
void DecodeRow(Isa isa, const uint8_t* codes, const uint8_t* scales, int64_t cols, const RtnOptions& o,
               float* out);

}  // namespace rtn_internal
}  // namespace quantd

#endif  // QUANTD_CORE_RTN_RTN_H_
