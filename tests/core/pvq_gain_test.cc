// Gain codebooks for PVQ: the deterministic log/exp, quantile levels against closed forms of the
// Beta law, the Lloyd-Max optimality conditions, the Beta model against rotated Gaussian rows,
// and the least-squares fit of row scale and codes.
#include "core/pvq/pvq_gain.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/common/hadamard.h"
#include "tests/testing/test_util.h"

namespace quantd::pvq_internal {
namespace {

TEST(PvqGainTest, DeterministicLogAndExpAgreeWithTheLibrary) {
  for (double x : {1e-300, 1e-20, 0.001, 0.5, 0.70710678, 0.9999, 1.0, 1.0001, 2.0, 3.14159, 1e10, 1e300}) {
    EXPECT_NEAR(DetLog(x), std::log(x), 4e-16 * std::max(1.0, std::fabs(std::log(x)))) << x;
  }
  for (double x : {-745.0, -700.0, -50.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 1.0, 10.0, 100.0, 709.0}) {
    EXPECT_NEAR(DetExp(x), std::exp(x), 4e-16 * std::exp(x) + 1e-320) << x;
  }
  EXPECT_EQ(DetExp(-800), 0.0);
  EXPECT_TRUE(std::isinf(DetExp(800)));
  EXPECT_EQ(DetLog(1.0), 0.0);
}

// With d = 2, r^2 ~ Beta(1, (n-2)/2), whose CDF is 1 - (1 - x)^b: the quantile levels are
// r_i = sqrt(1 - (1 - u_i)^(1/b)), u_i = (i + 1/2) / 2^bits. For n = 4 that is the uniform law.
TEST(PvqGainTest, QuantileLevelsMatchTheBetaLaw) {
  for (int64_t n : {4, 10, 66, 4098}) {
    const double b = (n - 2) / 2.0;
    for (int bits : {1, 3, 5}) {
      const std::vector<double> levels = ComputeGainLevels(2, n, bits, GainCodebook::kQuantile);
      ASSERT_EQ(levels.size(), size_t{1} << bits);
      for (size_t i = 0; i < levels.size(); ++i) {
        const double u = (i + 0.5) / levels.size();
        const double expect = std::sqrt(1 - std::pow(1 - u, 1 / b));
        EXPECT_NEAR(levels[i], expect, 2e-4 * expect) << "n=" << n << " bits=" << bits << " i=" << i;
      }
    }
  }
}

// The density of r for a group of d in a row of n, by an independent fine midpoint rule with the
// C library: mass and first moment of [lo, hi].
struct Moments {
  double mass = 0, first = 0, second = 0;
};
Moments Integrate(int d, int64_t n, double lo, double hi) {
  const int steps = 200000;
  const double a = d - 1.0, e = (n - d) / 2.0 - 1;
  const double mode = std::sqrt(a / (a + 2 * e));
  const double peak = a * std::log(mode) + e * std::log(1 - mode * mode);
  Moments m;
  const double h = (hi - lo) / steps;
  for (int i = 0; i < steps; ++i) {
    const double r = lo + (i + 0.5) * h;
    const double f = std::exp(a * std::log(r) + e * std::log(1 - r * r) - peak) * h;
    m.mass += f;
    m.first += f * r;
    m.second += f * r * r;
  }
  return m;
}

// Lloyd-Max levels satisfy the centroid condition (each level is the mean of r over its cell,
// cells bounded by midpoints) and give a lower mean squared error than the quantile levels.
TEST(PvqGainTest, LloydMaxLevelsAreCentroidsAndBeatQuantiles) {
  for (auto [d, n] :
       {std::pair{32, int64_t{64}}, std::pair{32, int64_t{4096}}, std::pair{64, int64_t{172}}}) {
    for (int bits : {2, 4}) {
      const std::vector<double> lloyd = ComputeGainLevels(d, n, bits, GainCodebook::kLloydMax);
      const std::vector<double> quant = ComputeGainLevels(d, n, bits, GainCodebook::kQuantile);
      ASSERT_TRUE(std::is_sorted(lloyd.begin(), lloyd.end()));
      auto mse = [&, d = d, n = n](const std::vector<double>& lv) {
        double err = 0, total = 0;
        for (size_t i = 0; i < lv.size(); ++i) {
          const double lo = i == 0 ? 1e-9 : 0.5 * (lv[i - 1] + lv[i]);
          const double hi = i + 1 == lv.size() ? 1 - 1e-9 : 0.5 * (lv[i] + lv[i + 1]);
          const Moments m = Integrate(d, n, lo, hi);
          err += m.second - 2 * lv[i] * m.first + lv[i] * lv[i] * m.mass;
          total += m.mass;
        }
        return err / total;
      };
      for (size_t i = 0; i < lloyd.size(); ++i) {
        const double lo = i == 0 ? 1e-9 : 0.5 * (lloyd[i - 1] + lloyd[i]);
        const double hi = i + 1 == lloyd.size() ? 1 - 1e-9 : 0.5 * (lloyd[i] + lloyd[i + 1]);
        const Moments m = Integrate(d, n, lo, hi);
        EXPECT_NEAR(lloyd[i], m.first / m.mass, 1e-4 * lloyd[i]) << "d=" << d << " n=" << n << " i=" << i;
      }
      EXPECT_LT(mse(lloyd), mse(quant)) << "d=" << d << " n=" << n << " bits=" << bits;
    }
  }
}

// The modelling assumption: after the rotation, group amplitudes of Gaussian and of heavy-tailed
// rows follow the law the codebook is built for, so each quantile cell receives about its share.
TEST(PvqGainTest, RotatedRowsFollowTheBetaModel) {
  const int64_t n = 1024;
  const int d = 32, bits = 3;
  const std::vector<double> q = ComputeGainLevels(d, n, bits, GainCodebook::kQuantile);
  RandomizedHadamard rot(n, 7);
  for (bool heavy : {false, true}) {
    std::vector<int> hist(q.size(), 0);
    int total = 0;
    for (int row = 0; row < 200; ++row) {
      std::vector<float> x = heavy ? testing::StudentT(n, 100 + row, 3.0) : testing::Gaussian(n, 100 + row);
      rot.Forward(x.data());
      double norm = 0;
      for (float v : x) norm += double(v) * v;
      for (int64_t g = 0; g < n / d; ++g) {
        double e = 0;
        for (int i = 0; i < d; ++i) e += double(x[g * d + i]) * x[g * d + i];
        const double r = std::sqrt(e / norm);
        // Quantile level i sits at the middle of the probability cell [i, i+1) / 2^bits.
        const int cell = static_cast<int>(std::lower_bound(q.begin(), q.end(), r) - q.begin());
        ++hist[std::min<size_t>(cell, q.size() - 1)];
        ++total;
      }
    }
    // Below level 0 lies 1/16 of the mass, between consecutive levels 1/8, above the last 1/16.
    for (size_t i = 0; i < hist.size(); ++i) {
      const double expect = (i == 0 ? 1.0 / 16 : 1.0 / 8) + (i + 1 == hist.size() ? 1.0 / 16 : 0.0);
      EXPECT_NEAR(hist[i] / double(total), expect, 0.015) << "heavy=" << heavy << " cell " << i;
    }
  }
}

TEST(PvqGainTest, CachedCodebookIsTheComputedOneInFloat) {
  const auto cached = GetGainCodebook(64, 4096, 4, GainCodebook::kLloydMax);
  const std::vector<double> direct = ComputeGainLevels(64, 4096, 4, GainCodebook::kLloydMax);
  ASSERT_EQ(cached->size(), direct.size());
  for (size_t i = 0; i < direct.size(); ++i) EXPECT_EQ((*cached)[i], static_cast<float>(direct[i]));
  EXPECT_EQ(GetGainCodebook(64, 4096, 4, GainCodebook::kLloydMax), cached);  // shared
}

TEST(PvqGainTest, NearestLevelPicksTheLowerOneOnTies) {
  const std::vector<float> lv = {0.1f, 0.2f, 0.4f};
  EXPECT_EQ(NearestLevel(lv, -1.0), 0);
  EXPECT_EQ(NearestLevel(lv, 0.14), 0);
  EXPECT_EQ(NearestLevel(lv, 0.16), 1);
  EXPECT_EQ(NearestLevel(lv, 0.3), 1);  // 0.3 is not exact in binary; both sides within rounding
  EXPECT_EQ(NearestLevel(lv, 0.31), 2);
  EXPECT_EQ(NearestLevel(lv, 5.0), 2);
  const std::vector<float> halves = {0.25f, 0.75f};
  EXPECT_EQ(NearestLevel(halves, 0.5), 0);
}

// Gains that are exactly R * level are recovered (codes and scale) by the alternating fit.
TEST(PvqGainTest, RowFitRecoversExactScaleAndCodes) {
  const std::vector<float> lv = {0.05f, 0.1f, 0.2f, 0.3f};
  const std::vector<float> tail = {0.01f, 0.02f};
  const std::vector<uint8_t> truth = {0, 3, 2, 2, 1, 3, 0, 1};
  const double r = 2.5;
  std::vector<double> fitted;
  for (size_t g = 0; g < truth.size(); ++g)
    fitted.push_back(r * (g + 1 == truth.size() ? tail : lv)[truth[g]]);
  std::vector<uint8_t> codes(truth.size(), 99);
  const float scale = FitRowGains(fitted, lv, tail, DType::kF32, codes);
  EXPECT_NEAR(scale, r, 1e-6);
  EXPECT_EQ(codes, truth);
  // A single group: the scale is its gain, rounded to the storage type.
  const std::vector<double> one = {1.0 / 3};
  EXPECT_EQ(FitRowGains(one, {}, {}, DType::kF16, {}), F16ToFloat(FloatToF16(1.0f / 3)));
  // Zero rows give a zero scale; F16 overflow gives infinity.
  std::vector<uint8_t> c2(2, 7);
  const std::vector<double> zeros = {0, 0};
  EXPECT_EQ(FitRowGains(zeros, lv, {}, DType::kF16, c2), 0.0f);
  const std::vector<double> huge = {1e6, 2e6};
  EXPECT_TRUE(std::isinf(FitRowGains(huge, lv, {}, DType::kF16, c2)));
}

}  // namespace
}  // namespace quantd::pvq_internal
