// File: pvq_gain.h
//
// Gain (amplitude) quantization for PVQ: codebooks for the relative amplitude of a group, and
// the per-row fit of the gains to the chosen directions.
//
// After the randomized Hadamard rotation the n weights of a row are close to i.i.d. Gaussian, so
// the share of a group of d of them in the row's energy, r^2 = |w_g|^2 / |w_row|^2, follows
// Beta(d/2, (n-d)/2) whatever the row's scale (van der Ouderaa et al. 2024). A group's amplitude is coded as
// one of 2^b levels 0 < r_0 < ... < r_{2^b-1} < 1 of r (not r^2: the squared error of a group is
// |w_row|^2 (r - r_hat)^2 plus the direction's error), relative to a per-row scale:
//  - kQuantile: r_i^2 = F^-1((i + 1/2) / 2^b), F the Beta CDF (equal-probability cells);
//  - kLloydMax: the levels minimising E[(r - r_hat)^2] under the density of r (Lloyd's
//    iteration from the quantile levels: cell bounds at midpoints, levels at cell centroids).
// The density f(r) ~ r^(d-1) (1 - r^2)^((n-d)/2 - 1) is integrated numerically on 8192 cells
// (midpoint rule) over the range where it exceeds e^-50 of its peak. Only +, -, *, /, sqrt,
// floor and exact scaling by powers of two are used (log and exp are computed here, not taken
// from the C library), so every IEEE-754 machine computes the same levels; they are rounded to
// float and cached per (d, n, b, kind).
//
// The gains actually stored are fitted, not the raw norms: for a group with unit direction u the
// least-squares gain is s = <w_g, u> (= cos * |w_g|). FitRowGains picks the row scale R and the
// level codes c_g that minimise sum_g (s_g - R r_{c_g})^2 by alternating the two
// (codes = nearest levels to s_g / R; R = least squares over the row; R rounded to its storage
// type before the final codes are chosen).
#ifndef QUANTD_CORE_PVQ_PVQ_GAIN_H_
#define QUANTD_CORE_PVQ_PVQ_GAIN_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/pvq/pvq_math.h"
#include "quantd/core/dtype.h"

namespace quantd::pvq_internal {

enum class GainCodebook { kQuantile, kLloydMax };

// Levels of r for a group of d weights in a row of n, in double, ascending.
// REQUIRES: 1 <= d < n, 1 <= bits <= 8.
std::vector<double> ComputeGainLevels(int d, int64_t n, int bits, GainCodebook kind);

// The same rounded to float, shared from a process-wide cache. Thread-safe.
std::shared_ptr<const std::vector<float>> GetGainCodebook(int d, int64_t n, int bits, GainCodebook kind);

// Index of the level nearest to v (the lower one on ties). REQUIRES: levels ascending, non-empty.
int NearestLevel(std::span<const float> levels, double v);

// Rounds a row scale to its storage dtype (F16 or F32) and back.
float RoundScale(double r, DType dtype);

// Chooses the row scale and the group codes (see the file comment). `fitted[g]` (>= 0) is the
// least-squares gain of group g for its direction. Groups use `levels`, except the last one
// when `tail_levels` is not empty (a shorter last group has its own codebook). With a single
// group per row (`codes` empty) the scale is that group's gain. Returns the row scale rounded
// to `dtype` (+inf when it overflows F16); `codes` are chosen for that rounded scale.
float FitRowGains(std::span<const double> fitted, std::span<const float> levels,
                  std::span<const float> tail_levels, DType dtype, std::span<uint8_t> codes);

// The row fit's arithmetic in host-and-device form (pointers and counts instead of spans), the
// single implementation behind NearestLevel, RoundScale and FitRowGains above; the CUDA kernels
// (pvq.cu) call it directly. Double arithmetic only (pvq_math.h), so both compilations agree.
QUANTD_HOST_DEVICE inline int NearestLevelIn(const float* levels, int count, double v) {
  int first = 0;  // std::lower_bound: the first level >= v
  for (int n = count; n > 0;) {
    const int half = n / 2;
    if (levels[first + half] < v) {
      first += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  if (first == 0) return 0;
  if (first == count) return first - 1;
  return (v - levels[first - 1] <= levels[first] - v) ? first - 1 : first;
}

QUANTD_HOST_DEVICE inline float RoundScaleIn(double r, DType dtype) {
  const float f = static_cast<float>(r);
  return dtype == DType::kF16 ? F16ToFloat(FloatToF16(f)) : f;
}

// `codes` (n_codes entries) null or empty: a single-group row.
QUANTD_HOST_DEVICE inline float FitRowGainsIn(const double* fitted, int64_t groups, const float* levels,
                                              int n_levels, const float* tail_levels, int n_tail, DType dtype,
                                              uint8_t* codes, int64_t n_codes) {
  if (n_codes == 0) return RoundScaleIn(groups == 0 ? 0.0 : fitted[0], dtype);
  // The last group uses tail_levels when there are any.
  auto level_of = [&](int64_t g, int c) {
    return g + 1 == groups && n_tail > 0 ? tail_levels[c] : levels[c];
  };
  auto choose = [&](float scale) {
    for (int64_t g = 0; g < groups; ++g) {
      const bool tail = g + 1 == groups && n_tail > 0;
      codes[g] = static_cast<uint8_t>(
          NearestLevelIn(tail ? tail_levels : levels, tail ? n_tail : n_levels, fitted[g] / scale));
    }
  };
  double energy = 0;
  for (int64_t g = 0; g < groups; ++g) energy += fitted[g] * fitted[g];
  float scale = RoundScaleIn(math::Sqrt(energy), dtype);
  if (!(scale > 0) || !math::IsFinite(scale)) {
    for (int64_t g = 0; g < n_codes; ++g) codes[g] = 0;
    return scale;
  }
  bool settled = false;
  for (int it = 0; it < 4 && !settled; ++it) {
    choose(scale);
    double num = 0, den = 0;
    for (int64_t g = 0; g < groups; ++g) {
      const double l = level_of(g, codes[g]);
      num += fitted[g] * l;
      den += l * l;
    }
    const float next = RoundScaleIn(num / den, dtype);
    settled = next == scale;
    if (!(next > 0) || !math::IsFinite(next)) break;
    scale = next;
  }
  if (!settled) choose(scale);
  return scale;
}

// Deterministic natural logarithm and exponential from basic IEEE operations (about 1 ulp).
// DetLog: REQUIRES x > 0 finite. DetExp: 0 below -745, +inf above 709.8.
double DetLog(double x);
double DetExp(double x);

}  // namespace quantd::pvq_internal

#endif  // QUANTD_CORE_PVQ_PVQ_GAIN_H_
