// File: crossquant.h
//
// CrossQuant (Liu, Ma, Zhang, Wang, arXiv 2410.07505): every element of a matrix X gets its own
// quantization step, built from its row's and its column's absolute maximum, so that small
// elements in rows with one large outlier are no longer rounded to zero. For a block of rows
// (rows = tokens, or output channels for weights; columns = channels), with N bits:
//
//   t_i   = max_j |X_ij|            row maxima, stored as `scale_dtype` (F32 or F16)
//   c_j   = max_i |X_ij|            column maxima over the rows of the block, stored likewise; or,
//                                   with static_columns=true, Calibration::column_max
//   qmax  = 2^(N-1) - 1
//   S_i   = f32(pow(t_i, alpha) / qmax)        pow and the division in double, from the stored
//   V_j   = f32(pow(c_j, 1 - alpha))           t_i and c_j, each rounded once to binary32
//   D_ij  = S_i * V_j                          the step: one binary32 multiplication
//   q_ij  = 0                                  when D_ij == 0
//         = clamp(rhe(X_ij / D_ij), -qmax, qmax)   otherwise; rhe rounds the exact quotient to
//                                              the nearest integer, ties to even
//   X^_ij = f32(q_ij) * D_ij                   one binary32 multiplication
//
// (the paper's D_ij = t_i^alpha c_j^(1-alpha) / qmax, with its roundings pinned down so that any
// decoder reproduces X^ bit for bit; docs/FORMAT.md "crossquant"). pow follows IEEE 754 (pow(x, 0)
// = 1 for every x, pow(0, y > 0) = 0), so alpha = 1 is exactly per-token (per-row) quantization
// with step f32(t_i / qmax). An all-zero row or column gets codes 0 and decodes to 0, never NaN
// (its steps are 0, or finite where pow(0, 0) = 1 at alpha = 0 or 1).
//
// Exactness: a double division X/D rounds to the same integer as the exact quotient (the
// reference does that). The fast path avoids the division: it multiplies X by 1/S_i * 1/V_j,
// which is within 3.9e-5 of X/D, and gives the few elements whose quotient lies that close to a
// half-integer the double quotient; for factors outside [2^-60, 2^60] it divides in binary32,
// which can only go wrong for a quotient that lands exactly on a half-integer, handled the same
// way. The codes are identical to the reference's.
//
// When t and c come from the block itself, |X_ij| <= min(t_i, c_j) <= t_i^alpha c_j^(1-alpha),
// so no code leaves the range (the roundings above, and F16 maxima, move a quotient by far less
// than the half step that would be needed). With static (calibration) column maxima a value may
// exceed its range: it is clamped, and counted.
//
// static_columns=true without calibration column maxima, or column maxima supplied with
// static_columns=false, is INVALID_ARGUMENT: calibration is never silently ignored, and the
// recorded parameters always say where c came from (c itself travels in every encoding).
//
// Rows-chunking: c is the column maximum over the rows of the encoded block (slice). A tensor
// encoded in row chunks gets one c vector per chunk, computed from that chunk only; encoding the
// tensor as a single slice reproduces the paper's per-matrix c exactly. Static column maxima are
// the same vector in every slice.
//
// Quantization kernel (the paper's metric): the non-zero inputs whose code is 0. The encoder
// reports additive counts in Encoding::stats; readers derive proportions from them
// (kernel_count / nonzero_count):
//   "nonzero_count"           inputs X_ij != 0
//   "kernel_count"            inputs X_ij != 0 with q_ij == 0
//   "per_token_kernel_count"  inputs X_ij != 0 that per-token quantization at the same bits, with
//                             the same stored t_i, maps to 0 (step f32(t_i / qmax): alpha = 1)
//   "clamp_count"             inputs whose rounded quotient lay outside [-qmax, qmax]
//
// Sections (leading dimension first, docs/FORMAT.md "crossquant"):
//   "codes"   U8[rows, ceil(cols*N/8)]  q + 2^(N-1) in N bits (offset binary as in rtn; the
//                                       stored value 0, i.e. -2^(N-1), never occurs and is
//                                       rejected by the decoder), each row on a byte boundary
//   "row_max" F32|F16[rows]             t
//   "col_max" F32|F16[1, cols]          c of this slice (dynamic or static)
#ifndef QUANTD_CORE_CROSSQUANT_CROSSQUANT_H_
#define QUANTD_CORE_CROSSQUANT_CROSSQUANT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/common/isa.h"
#include "quantd/core/dtype.h"
#include "quantd/core/method.h"
#include "quantd/core/params.h"

namespace quantd {

struct CrossQuantOptions {
  int bits = 8;                     // N
  double alpha = 0.15;              // the paper's main setting
  DType scale_dtype = DType::kF32;  // storage of the maxima t and c: kF32 or kF16
  bool static_columns = false;      // c from Calibration::column_max instead of the block

  static StatusOr<CrossQuantOptions> FromParams(const Params& p);
  Params ToParams() const;

  int qmax() const { return (1 << (bits - 1)) - 1; }
};

const Method& CrossQuantMethod();

namespace crossquant_internal {

// The quantization-kernel counts of one block (see the banner); additive over blocks.
struct KernelCounts {
  int64_t nonzero = 0;
  int64_t kernel = 0;
  int64_t per_token_kernel = 0;
  int64_t clamp = 0;

  void Add(const KernelCounts& o) {
    nonzero += o.nonzero;
    kernel += o.kernel;
    per_token_kernel += o.per_token_kernel;
    clamp += o.clamp;
  }
  friend bool operator==(const KernelCounts&, const KernelCounts&) = default;
};

// One encoded block, with the maxima as floats (already rounded to scale_dtype).
struct Block {
  std::vector<uint8_t> codes;  // rows * PackedBytes(cols, bits)
  std::vector<float> row_max;  // t, rows values
  std::vector<float> col_max;  // c, cols values
  KernelCounts counts;
};

// Shared by the CPU and CUDA encoders: the static column maxima of `in` (null when dynamic), or
// INVALID_ARGUMENT when they contradict static_columns; the error for an overflowing block; and
// the Encoding (sections and stats) of an encoded block.
StatusOr<const float*> StaticColumns(const Chunk& in, const CrossQuantOptions& o);
Status OverflowError(const CrossQuantOptions& o);
StatusOr<Encoding> ToEncoding(Block&& b, int64_t rows, int64_t cols, const CrossQuantOptions& o);

// Instruction-set variants of the row kernels (core/common/isa.h). They run the same IEEE
// operations (no FMA) and give identical bytes; kAuto picks the best one the CPU has. Tests force
// each.
using ::quantd::Isa;
using ::quantd::IsaAvailable;

// `x` is rows x cols, row-major. `static_col_max` is null, or cols values (finite, >= 0) used as
// c when o.static_columns. Returns false when a maximum is not finite in scale_dtype (a value of
// 65520 or more with F16 maxima) or a step D_ij overflows; the block is then unusable.
// The plain reference, written for clarity (pow per element, double quotient); the fast path
// must match it bit for bit.
bool EncodeRef(const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
               const float* static_col_max, Block* out);
// The fast path the method uses: a maxima pass and a quantizing pass (one fused pass with static
// columns), parallel over row blocks.
bool EncodeFast(const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
                const float* static_col_max, Block* out, Isa isa = Isa::kAuto);

// Decode rows x cols values from codes and the stored maxima. Returns false when a code is the
// unused value 0 (-2^(N-1)) (DecodeRef also when a step is infinite). REQUIRES: the maxima are
// finite and >= 0; for DecodeFast, StepsFinite.
bool DecodeRef(const uint8_t* codes, const float* row_max, const float* col_max, int64_t rows, int64_t cols,
               const CrossQuantOptions& o, float* out);
bool DecodeFast(const uint8_t* codes, const float* row_max, const float* col_max, int64_t rows, int64_t cols,
                const CrossQuantOptions& o, float* out, Isa isa = Isa::kAuto);

// Plain per-token quantization of the same block at the same bits (step f32(t_i / qmax) with t_i
// rounded to scale_dtype, codes in the same layout): what CrossQuant with alpha = 1 must equal,
// and what "per_token_kernel_count" counts. Written independently of the code above.
void EncodePerTokenRef(const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
                       std::vector<uint8_t>* codes, int64_t* kernel_count);

// --- Fast-path building blocks (crossquant.cc, crossquant_rows.cc) ------------------------------

// S_i and V_j of the banner.
float RowFactor(float t, const CrossQuantOptions& o);
float ColFactor(float c, const CrossQuantOptions& o);
// True when every step S_i * V_j is finite (S and V grow with t and c, so the largest maxima
// give the largest step).
bool StepsFinite(std::span<const float> row_max, std::span<const float> col_max, const CrossQuantOptions& o);

// Row kernels; `isa` must be a concrete, available variant (not kAuto).
// max_j |x_j|, or +Inf when the row holds Inf or NaN (so the encoder checks its input while it
// takes the maxima); also col_max[j] = max(col_max[j], |x_j|) unless col_max is null.
float RowAbsMax(Isa isa, const float* x, int64_t cols, float* col_max);
// Whether the quantizing loop may replace the division by x * (1/S_i * 1/V_j) (then rounded
// exactly wherever that could matter): every V_j is 0 or within [2^-60, 2^60]. `Reciprocals`
// gives 1/V_j, and 0 for V_j = 0.
bool ReciprocalsUsable(const std::vector<float>& v);
std::vector<float> Reciprocals(const std::vector<float>& v);
// Codes of one row, one per byte (q + qmax + 1), and the row's counts. `inv_v` is
// Reciprocals(v) when ReciprocalsUsable(v), else null (the loop divides). `static_columns`: v
// comes from calibration maxima (values may then exceed their range). `per_token_step` is
// f32(t_i / qmax), or +inf when that is 0 (every non-zero input of the row is then in the
// per-token kernel).
void QuantizeRow(Isa isa, const float* x, int64_t cols, float s, const float* v, const float* inv_v,
                 bool static_columns, float per_token_step, int qmax, uint8_t* q, KernelCounts* counts);
// Values of one row from byte codes; false when a code is 0.
bool DecodeRow(Isa isa, const uint8_t* q, int64_t cols, float s, const float* v, int qmax, float* out);

}  // namespace crossquant_internal
}  // namespace quantd

#endif  // QUANTD_CORE_CROSSQUANT_CROSSQUANT_H_
