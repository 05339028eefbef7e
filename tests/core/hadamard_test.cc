#include "core/common/hadamard.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/testing/test_util.h"

namespace quantd {
namespace {

TEST(HadamardTest, KnownSmallTransform) {
  std::vector<float> x = {1, 0, 0, 0};
  Fwht(x.data(), 4);
  for (float v : x) EXPECT_FLOAT_EQ(v, 0.5f);
  std::vector<double> y = {1, 2, 3, 4};
  Fwht(y.data(), 4);
  EXPECT_DOUBLE_EQ(y[0], 5.0);
  EXPECT_DOUBLE_EQ(y[1], -1.0);
  EXPECT_DOUBLE_EQ(y[2], -2.0);
  EXPECT_DOUBLE_EQ(y[3], 0.0);
}

// Orthogonality in double for power-of-two and other lengths: norms and inner products are
// preserved to 1e-12, and Inverse(Forward(x)) == x to 1e-12.
TEST(HadamardTest, OrthogonalForEveryLength) {
  for (int64_t n : {1, 2, 3, 5, 8, 64, 100, 172, 256, 352, 1000, 4096}) {
    RandomizedHadamard h(n, 42);
    std::vector<float> fa = testing::Gaussian(n, 1), fb = testing::Gaussian(n, 2);
    std::vector<double> a(fa.begin(), fa.end()), b(fb.begin(), fb.end());
    double dot0 = 0, na0 = 0;
    for (int64_t i = 0; i < n; ++i) {
      dot0 += a[i] * b[i];
      na0 += a[i] * a[i];
    }
    std::vector<double> ta = a, tb = b;
    h.Forward(ta.data());
    h.Forward(tb.data());
    double dot1 = 0, na1 = 0;
    for (int64_t i = 0; i < n; ++i) {
      dot1 += ta[i] * tb[i];
      na1 += ta[i] * ta[i];
    }
    EXPECT_NEAR(na1, na0, 1e-12 * na0) << n;
    EXPECT_NEAR(dot1, dot0, 1e-12 * na0) << n;
    h.Inverse(ta.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(ta[i], a[i], 1e-12) << n;
    // Float round trip within float rounding.
    std::vector<float> f = fa;
    h.Forward(f.data());
    h.Inverse(f.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(f[i], fa[i], 1e-5f) << n;
  }
}

// Each input spreads over at least p > n/2 outputs (all n when it lies in the first block),
// also when n is not a power of two; without the second sign diagonal the two Hadamards would
// cancel on the overlap and leave over half the outputs untouched.
TEST(HadamardTest, EveryOutputMixesEveryInput) {
  for (int64_t n : {172, 352, 1000}) {
    RandomizedHadamard h(n, 7);
    for (int64_t k = 0; k < n; ++k) {
      std::vector<double> e(n, 0.0);
      e[k] = 1.0;
      h.Forward(e.data());
      int zeros = 0;
      for (double v : e) zeros += v == 0.0;
      int64_t p = 1;
      while (p * 2 <= n) p *= 2;
      // Inputs beyond the first block reach only the last block's p outputs.
      EXPECT_LE(zeros, k < p ? 0 : n - p) << "n=" << n << " k=" << k;
    }
  }
}

TEST(HadamardTest, SeedsDecideSigns) {
  RandomizedHadamard a(64, 1), b(64, 1), c(64, 2);
  int same = 0, differ = 0;
  for (int64_t i = 0; i < 64; ++i) {
    EXPECT_EQ(a.sign(i), b.sign(i));
    (a.sign(i) == c.sign(i) ? same : differ)++;
  }
  EXPECT_GT(differ, 10);
  EXPECT_GT(same, 10);
}

}  // namespace
}  // namespace quantd
