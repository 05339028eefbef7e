// File: pvq.h
//
// PVQ: Pyramid Vector Quantization of weight rows (van der Ouderaa et al. 2024 for
// the LLM setting, Fischer 1986 for PVQ itself), with an optional Hessian-aware (GPTQ-style)
// encoder.
//
// Encoding one row of n weights:
//  1. Coherence processing: x = H_n D w, the seeded randomized Hadamard transform of the row
//     (hadamard.h; any n, exactly invertible). Skipped with rotation=none.
//  2. Groups: x is cut into groups of D = group_size consecutive values; when D does not divide
//     n the last group is shorter (D' = n mod D) and gets K' = max(1, round(K D' / D)) pulses,
//     the same pulse density (round half up: K' = max(1, floor((K D' + D/2) / D))).
//  3. Direction: the point p of the pyramid P(D, K) = {p in Z^D : sum |p_i| = K} nearest to the
//     group by cosine (pvq_search.h; `search` = exact or greedy), coded as its Fischer index in
//     [0, N(D, K)) (pvq_index.h), ceil(log2 N(D, K)) bits.
//  4. Gain: a per-row scale R (F16 or F32) and per group a b-bit code c of a level r_c of the
//     codebook for the group amplitude r = |w_g| / |w_row| ~ sqrt(Beta(D/2, (n-D)/2))
//     (pvq_gain.h; `gain_codebook` = lloyd or quantile). R and the codes are fitted by least
//     squares to the chosen directions. A row that is a single group has no group codes; its
//     scale is the group's gain.
//  Decoding: x_hat_g = (R r_c / |p|) p per group, then w_hat = D H_n^T x_hat.
//  The exact arithmetic of decoding (FORMAT.md): per group the float factor
//  s = float(double(R) * double(r_c) / sqrt(double(|p|^2))) (s = float(double(R) / sqrt(|p|^2))
//  for a single-group row), x_hat_i = float(p_i) * s, then the float inverse rotation of
//  hadamard.cc.
//
// Hessian-aware variant (use_hessian=true; pvq_hessian.cc): given H = X^T X of the layer's inputs
// (Calibration::hessian), the groups of a row are quantized left to right and each group's error
// is pushed onto the groups not yet quantized, GPTQ-style, so as to lower the proxy loss
// tr(E H E^T) instead of |E|^2. It runs in the rotated domain with H' = R H R^T (R the row
// rotation), since (R e)^T H' (R e) = e^T H e, plus dampening damp * mean(diag H') * I. The
// encoding format is the same; only the encoder differs. H is given in the original input basis
// (cols x cols); use_hessian=true requires it, and a Hessian supplied with use_hessian=false is
// rejected rather than silently ignored (as CrossQuant's static_columns does; quantctl attaches
// Hessians with --hessian FILE, and the parameter is not called `hessian` so that its derived flag
// does not collide with that option). The factorisation of H' (O(n^3), serial) is shared by the row
// blocks of a tensor through a small cache keyed by the Hessian's full content.
//
// CUDA (pvq_cuda.h): the plain encoder also runs on the GPU, bit-identical to the CPU (the
// search and the gain fit are one source compiled for both, pvq_search_impl.h and pvq_gain.h);
// the Hessian-aware encoder runs on the CPU only.
//
// Defaults, chosen by measurement (bench/results/pvq.md): group_size 32 (64 is within 0.05 dB
// on 4096-wide rows at 3.25 bits per weight, better at 2.5 and worse from 4.125 up, and half as
// fast), gain_bits max(4, round(bits)), Lloyd-Max gain levels (up to 0.5 dB better than
// quantiles), exact search (0.02-0.05 dB over the greedy one at about 3x its cost), F16 scales.
//
// Bits per weight. A row stores, per group in order, its gain code (gain_bits bits, none for a
// single-group row) then its index (ceil(log2 N) bits), LSB first, padded to a whole byte, plus
// the scale (16 or 32 bits):
//   bpw(K) = (8 ceil((G (gain_bits + B(D, K)) [+ gain_bits + B(D', K')]) / 8) + scale bits) / n
// with G full groups and B(d, k) = ceil(log2 N(d, k)). Given `bits` (and k = 0, the default),
// K is the largest K >= 1 with bpw(K) <= bits: the target is a budget, never exceeded by the
// rows (one K below "the smallest K reaching it" whenever that one would overshoot, so that
// comparisons at equal bits never hand PVQ extra bits). The 32 bits per recorded parameter
// (Encoding::BitsPerWeight) are not in bpw(K), since Resolve does not know how many rows share
// them; they add 32 * 11 / (rows n) bits per weight (0.00002 for a 4096 x 4096 matrix, 0.09 for
// a 64 x 64 one). The resolved parameters record the K used as `k`; `bits` keeps the requested
// target.
//
// Sections (leading dimension = rows of the slice):
//   "scales" F16 or F32 [rows, 1]   the row scale R
//   "codes"  U8 [rows, row_bytes]   per row: for each group, gain code then index, LSB first
#ifndef QUANTD_CORE_PVQ_PVQ_H_
#define QUANTD_CORE_PVQ_PVQ_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/pvq/pvq_gain.h"
#include "core/pvq/pvq_index.h"
#include "core/pvq/pvq_search.h"
#include "quantd/core/dtype.h"
#include "quantd/core/method.h"
#include "quantd/core/params.h"

namespace quantd {

struct PvqOptions {
  double bits = 3.25;   // target bits per weight; used to choose k when k == 0
  int k = 0;            // pulses per full group; 0: the largest within `bits`
  int group_size = 32;  // D
  int gain_bits = 0;    // bits per group amplitude code; 0: DefaultGainBits(bits)
  pvq_internal::GainCodebook gain_codebook = pvq_internal::GainCodebook::kLloydMax;
  DType scale_dtype = DType::kF16;  // storage of the per-row scale: kF16 or kF32
  int64_t seed = 0;                 // of the randomized Hadamard rotation
  bool rotate = true;               // rotation=hadamard (true) or none
  pvq_internal::SearchMode search = pvq_internal::SearchMode::kExact;
  bool hessian = false;  // encode with Calibration::hessian (required when true)
  double damp = 0.01;    // Hessian dampening, relative to the mean diagonal

  // Parses and range-checks every parameter (k may be 0 here).
  static StatusOr<PvqOptions> FromParams(const Params& p);
  Params ToParams() const;
};

const Method& PvqMethod();

namespace pvq_internal {

// The layout of a row of `cols` weights under resolved options (k >= 1).
struct PvqLayout {
  int64_t cols = 0;
  int group_size = 0;       // D
  int64_t full_groups = 0;  // groups of D weights
  int tail = 0;             // length of the shorter last group, 0 when D divides cols
  int k = 0;                // pulses of a full group
  int tail_k = 0;           // pulses of the last group when tail > 0
  int index_bits = 0;       // B(D, k)
  int tail_index_bits = 0;  // B(tail, tail_k)
  int gain_bits = 0;        // per group; 0 for a single-group row
  int64_t row_bits = 0;     // used bits of a row's code stream
  int64_t row_bytes = 0;
  int scale_bytes = 0;  // 2 or 4
  int table_dim = 0;    // the counting table (table_dim, table_k) covers every group
  int table_k = 0;

  QUANTD_HOST_DEVICE int64_t groups() const { return full_groups + (tail > 0 ? 1 : 0); }
  QUANTD_HOST_DEVICE int GroupLength(int64_t g) const { return g < full_groups ? group_size : tail; }
  QUANTD_HOST_DEVICE int GroupPulses(int64_t g) const { return g < full_groups ? k : tail_k; }
  QUANTD_HOST_DEVICE int GroupIndexBits(int64_t g) const {
    return g < full_groups ? index_bits : tail_index_bits;
  }
  // (8 row_bytes + 8 scale_bytes) / cols: everything but the recorded parameters.
  double BitsPerWeight() const;
};

// The gain bits chosen when gain_bits=0: max(4, round(bits)) (halves up), at most 8. Finer gains
// pay off as the rate grows; measured within 0.35 dB of the best choice on real and synthetic
// weights from 2.5 to 6 bits per weight (bench/results/pvq.md), where a fixed 4 loses up to 3 dB.
int DefaultGainBits(double bits);

// The layout for `k` pulses (k >= 1): INVALID_ARGUMENT when an index would need more than
// kMaxIndexBits bits.
StatusOr<PvqLayout> MakeLayout(const PvqOptions& o, int64_t cols);
// The largest k >= 1 whose layout fits o.bits; INVALID_ARGUMENT naming `bits` when none does.
StatusOr<int> ChooseK(const PvqOptions& o, int64_t cols);

// What encoding and decoding a row needs besides the options: the layout, the counting table
// and the gain codebooks (shared, immutable).
struct RowCodec {
  PvqLayout layout;
  std::shared_ptr<const PyramidTable> table;
  std::shared_ptr<const std::vector<float>> levels;       // full groups; null for single-group rows
  std::shared_ptr<const std::vector<float>> tail_levels;  // the shorter last group; may be null
  SearchMode search = SearchMode::kExact;
  DType scale_dtype = DType::kF16;

  std::span<const float> LevelsOf(int64_t g) const;  // empty for a single-group row
};
StatusOr<RowCodec> MakeRowCodec(const PvqOptions& o, int64_t cols);

// Per-row by-products, summed into Encoding::stats.
struct RowStats {
  int64_t hull_evals = 0;
  int64_t improved_groups = 0;
};

// The steps of Method::Encode that every encoder of the method (CPU, CUDA) shares:
// the options of resolved parameters (INVALID_ARGUMENT when k or gain_bits is still 0), the
// calibration checks (a Hessian exactly when use_hessian=true), the row scales in their storage
// type (INVALID_ARGUMENT naming the first row whose scale overflows F16; `scales` holds
// row_scale.size() values of the dtype), and the encoding's by-products (exact search only).
StatusOr<PvqOptions> ResolvedOptions(const Params& resolved);
Status CheckEncodeInput(const PvqOptions& o, const Chunk& in);
Status StoreRowScales(std::span<const float> row_scale, int64_t row_begin, DType dtype, uint8_t* scales);
void SetStats(const PvqOptions& o, const RowStats& total, Encoding& enc);

// The directions of a row: for each group its pyramid point (p, cols values) and its
// least-squares gain for the group's values.
RowStats SearchRow(const float* x, const RowCodec& c, int32_t* p, double* fitted);

// Writes one row's code stream (c.layout.row_bytes bytes, zeroed by the caller) from its points
// and gain codes. Reference (bitpack.h writer, the paper's enumeration) and fast versions; the
// bytes must be identical.
void PackRowRef(const int32_t* p, const uint8_t* gain_codes, const RowCodec& c, uint8_t* out);
void PackRowFast(const int32_t* p, const uint8_t* gain_codes, const RowCodec& c, uint8_t* out);

// Reads one row's stream back into points and gain codes; false when an index is out of range
// (a malformed encoding).
bool UnpackRowRef(const uint8_t* in, const RowCodec& c, int32_t* p, uint8_t* gain_codes);
bool UnpackRowFast(const uint8_t* in, const RowCodec& c, int32_t* p, uint8_t* gain_codes);

// The decoded (rotated-domain) values of group g with point p and gain code, under row scale.
void ReconstructGroup(const int32_t* p, int len, float scale, std::span<const float> levels, uint8_t code,
                      float* out);

// Whole rows in the rotated domain: `x` the rotated row, `out` its reconstruction.
// EncodeRotatedRow writes the row scale (as a float, before storage) and the stream.
RowStats EncodeRotatedRow(const float* x, const RowCodec& c, float* scale, uint8_t* stream);
bool DecodeRotatedRowRef(const uint8_t* stream, float scale, const RowCodec& c, float* out);
bool DecodeRotatedRowFast(const uint8_t* stream, float scale, const RowCodec& c, float* out);

// The Hessian-aware encoder for `rows` rotated rows (pvq_hessian.cc). `hprime_factor` is V with
// H' = V V^T (upper triangular, n x n row-major) from FactorHessian.
struct HessianFactor {
  int64_t n = 0;
  std::vector<float> v;  // upper triangular, row-major
};
// Symmetrises H, rotates it (H' = R H R^T, when o.rotate), adds o.damp * mean(diag H') * I and
// factors H' = V V^T with V upper triangular. INVALID_ARGUMENT when H' is not positive definite.
// Results are cached for the tensor's later row blocks (keyed by the full content).
StatusOr<std::shared_ptr<const HessianFactor>> FactorHessian(std::span<const float> hessian, int64_t n,
                                                             const PvqOptions& o);
// Encodes `rows` rotated rows (x, rows x n) with the GPTQ-style sweep: writes each row's scale
// (scales[r]), stream (streams + r * row_bytes, zeroed by the caller) and by-products.
void EncodeRotatedRowsHessian(const float* x, int64_t rows, const RowCodec& c, const HessianFactor& h,
                              float* scales, uint8_t* streams, RowStats* stats);

}  // namespace pvq_internal
}  // namespace quantd

#endif  // QUANTD_CORE_PVQ_PVQ_H_
