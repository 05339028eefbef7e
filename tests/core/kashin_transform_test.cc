// Kashin's orthogonal transforms: the FFT and DCT against their O(n^2) definitions, and every
// transform's orthogonality in double.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "core/kashin/dct.h"
#include "core/kashin/fft.h"
#include "core/kashin/orthogonal.h"
#include "core/kashin/transform.h"
#include "tests/testing/test_util.h"

namespace quantd::kashin_internal {
namespace {

std::vector<double> Doubles(size_t n, uint64_t seed) {
  std::vector<float> f = testing::Gaussian(n, seed);
  return std::vector<double>(f.begin(), f.end());
}

double Norm(const std::vector<double>& a) {
  double s = 0;
  for (double x : a) s += x * x;
  return std::sqrt(s);
}

// Lengths: powers of two, mixed radix (3, 5, 7, 11, 43 = 172's odd part via Bluestein), primes
// below and above the direct-radix limit, and the real models' row lengths.
const int64_t kLengths[] = {1,  2,  3,  4,  5,   6,   7,   8,   12,  16,   31,  37,
                            45, 60, 64, 97, 100, 128, 172, 256, 352, 1000, 4096};

TEST(KashinFftTest, MatchesTheDefinition) {
  for (int64_t n : kLengths) {
    FftPlan<double> plan(n);
    std::vector<double> re = Doubles(n, 1), im = Doubles(n, 2);
    std::vector<double> xr = re, xi = im;
    std::vector<double> scratch(static_cast<size_t>(plan.ScratchSize()));
    plan.Forward(re.data(), im.data(), scratch.data());
    double err = 0, scale = 0;
    for (int64_t k = 0; k < n; ++k) {
      std::complex<double> s = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double a = -2 * std::numbers::pi * static_cast<double>((j * k) % n) / static_cast<double>(n);
        s += std::complex<double>(xr[j], xi[j]) * std::complex<double>(std::cos(a), std::sin(a));
      }
      err = std::max(err, std::abs(s - std::complex<double>(re[k], im[k])));
      scale = std::max(scale, std::abs(s));
    }
    EXPECT_LT(err, 1e-12 * std::max(1.0, scale)) << "n=" << n;
    // The inverse, divided by n, gives the input back.
    plan.InverseUnscaled(re.data(), im.data(), scratch.data());
    for (int64_t j = 0; j < n; ++j) {
      ASSERT_NEAR(re[j] / static_cast<double>(n), xr[j], 1e-12) << n;
      ASSERT_NEAR(im[j] / static_cast<double>(n), xi[j], 1e-12) << n;
    }
  }
}

TEST(KashinDctTest, MatchesTheDefinitionAndIsOrthogonal) {
  for (int64_t n : kLengths) {
    DctPlan<double> plan(n);
    const std::vector<double> x = Doubles(n, 3);
    std::vector<double> fast = x, ref(static_cast<size_t>(n));
    plan.Forward(fast.data());
    DctReference(x.data(), n, ref.data());
    for (int64_t k = 0; k < n; ++k) ASSERT_NEAR(fast[k], ref[k], 1e-12 * Norm(x)) << "n=" << n << " k=" << k;
    EXPECT_NEAR(Norm(fast), Norm(x), 1e-12 * Norm(x)) << n;
    plan.Inverse(fast.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_NEAR(fast[j], x[j], 1e-12) << "n=" << n;
  }
}

TEST(KashinDctTest, KnownValues) {
  // A constant vector transforms to sqrt(n) * c in the DC coefficient only.
  DctPlan<double> plan(6);
  std::vector<double> x(6, 2.0);
  plan.Forward(x.data());
  EXPECT_NEAR(x[0], 2.0 * std::sqrt(6.0), 1e-14);
  for (int k = 1; k < 6; ++k) EXPECT_NEAR(x[k], 0.0, 1e-14);
  // The first basis vector phi_1(j) = sqrt(2/n) cos(pi (2j+1) / 2n) maps to e_1.
  const int n = 8;
  std::vector<double> phi(n);
  for (int j = 0; j < n; ++j)
    phi[j] = std::sqrt(2.0 / n) * std::cos(std::numbers::pi * (2 * j + 1) / (2.0 * n));
  DctPlan<double>(n).Forward(phi.data());
  for (int k = 0; k < n; ++k) EXPECT_NEAR(phi[k], k == 1 ? 1.0 : 0.0, 1e-14) << k;
}

TEST(KashinDctTest, FloatAgreesWithDouble) {
  for (int64_t n : {64, 100, 172, 352, 4096}) {
    DctPlan<float> pf(n);
    DctPlan<double> pd(n);
    std::vector<float> f = testing::Gaussian(n, 4);
    std::vector<double> d(f.begin(), f.end());
    pf.Forward(f.data());
    pd.Forward(d.data());
    const double norm = Norm(d);
    for (int64_t k = 0; k < n; ++k) ASSERT_NEAR(f[k], d[k], 1e-5 * norm) << n;
  }
}

// Every transform kind is orthogonal in double: Inverse(Forward(x)) = x, and norms and inner
// products are preserved (so Q Q^T = I on random vectors), to 1e-12.
TEST(KashinTransformTest, EveryKindIsOrthogonal) {
  for (TransformKind kind :
       {TransformKind::kHadamard, TransformKind::kDct, TransformKind::kDctSigned, TransformKind::kQr}) {
    for (int64_t n : {1, 5, 64, 100, 172, 352}) {
      auto q = GetTransform(kind, n, 11);
      ASSERT_TRUE(q.ok()) << q.status().ToString();
      ASSERT_EQ((*q)->size(), n);
      const std::vector<double> a = Doubles(n, 5), b = Doubles(n, 6);
      std::vector<double> qa = a, qb = b;
      (*q)->Forward(qa.data());
      (*q)->Forward(qb.data());
      double dot0 = 0, dot1 = 0;
      for (int64_t i = 0; i < n; ++i) {
        dot0 += a[i] * b[i];
        dot1 += qa[i] * qb[i];
      }
      const double na = Norm(a);
      EXPECT_NEAR(Norm(qa), na, 1e-12 * na) << TransformName(kind) << " n=" << n;
      EXPECT_NEAR(dot1, dot0, 1e-12 * na * Norm(b)) << TransformName(kind) << " n=" << n;
      // Q^T (Q a) = a, and Q (Q^T a) = a.
      (*q)->Inverse(qa.data());
      std::vector<double> ta = a;
      (*q)->Inverse(ta.data());
      (*q)->Forward(ta.data());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(qa[i], a[i], 1e-12 * na) << TransformName(kind) << " n=" << n;
        ASSERT_NEAR(ta[i], a[i], 1e-12 * na) << TransformName(kind) << " n=" << n;
      }
    }
  }
}

TEST(KashinTransformTest, MatrixTransformIsTheKroneckerProduct) {
  const int64_t m = 6, n = 10;
  auto q1 = *GetTransform(TransformKind::kDct, m, 1);
  auto q2 = *GetTransform(TransformKind::kHadamard, n, 2);
  MatrixTransform q(q1, q2);
  ASSERT_EQ(q.size(), m * n);
  const std::vector<double> x = Doubles(m * n, 7);
  std::vector<double> y = x;
  q.Forward(y.data());
  // Q1 X Q2^T computed column by column from the two transforms applied to unit vectors.
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t a = 0; a < m; ++a) {
        std::vector<double> ea(m, 0.0);
        ea[a] = 1;
        q1->Forward(ea.data());  // column a of Q1
        for (int64_t b = 0; b < n; ++b) {
          std::vector<double> eb(n, 0.0);
          eb[b] = 1;
          q2->Forward(eb.data());  // column b of Q2
          s += ea[i] * x[a * n + b] * eb[j];
        }
      }
      ASSERT_NEAR(y[i * n + j], s, 1e-12) << i << "," << j;
    }
  }
  q.Inverse(y.data());
  for (int64_t i = 0; i < m * n; ++i) ASSERT_NEAR(y[i], x[i], 1e-12);
}

// Q R = G with R upper triangular with a positive diagonal: Q is the QR factor of the seeded
// Gaussian matrix with the Haar sign fix.
TEST(KashinOrthogonalTest, QrOfTheSeededGaussianWithPositiveDiagonal) {
  const int64_t n = 40;
  const std::vector<double> q = RandomOrthogonal(n, 9);  // column-major
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < n; ++i) {
      // R[i][j] = (Q^T G)[i][j] = sum_k Q[k][i] G[k][j].
      double r = 0;
      for (int64_t k = 0; k < n; ++k) r += q[i * n + k] * SeededGaussian(9, static_cast<uint64_t>(k * n + j));
      if (i > j) {
        ASSERT_NEAR(r, 0.0, 1e-11) << i << "," << j;
      } else if (i == j) {
        ASSERT_GT(r, 0.0) << i;
      }
    }
  }
  // Same seed, same matrix; another seed, another.
  EXPECT_EQ(RandomOrthogonal(n, 9), q);
  EXPECT_NE(RandomOrthogonal(n, 10), q);
}

TEST(KashinOrthogonalTest, GaussianHasUnitMoments) {
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double g = SeededGaussian(3, static_cast<uint64_t>(i));
    s += g;
    s2 += g * g;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.01);
}

TEST(KashinTransformTest, RejectsOversizedDenseTransforms) {
  EXPECT_THAT(GetTransform(TransformKind::kQr, 4097, 0),
              testing::StatusIs(StatusCode::kInvalidArgument, "its limit is 4096"));
  EXPECT_THAT(GetTransform(TransformKind::kDct, 0, 0),
              testing::StatusIs(StatusCode::kInvalidArgument, "length 0"));
}

}  // namespace
}  // namespace quantd::kashin_internal
