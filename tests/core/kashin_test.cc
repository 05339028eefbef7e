#include "core/kashin/kashin.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/common/bitpack.h"
#include "quantd/core/quantize.h"
#include "tests/testing/real_weights.h"
#include "tests/testing/test_util.h"
#if QUANTD_HAVE_TBB
#include <tbb/task_arena.h>
#endif

namespace quantd {
namespace {

using kashin_internal::Codebook;
using kashin_internal::GreedyOptions;
using kashin_internal::GreedyResult;
using kashin_internal::KMeansOptions;
using kashin_internal::TransformKind;
using ::quantd::testing::StatusIs;

Encoding MustEncode(const std::vector<float>& w, int64_t rows, int64_t cols, const Params& p) {
  return testing::MustEncodeMatrix("kashin", w, rows, cols, p);
}

double MaxAbs(const float* a, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(a[i])));
  return m;
}

// Rows normalised to unit RMS, as the method feeds them to the greedy algorithm.
std::vector<float> UnitRms(std::vector<float> x) {
  double s = 0;
  for (float a : x) s += static_cast<double>(a) * a;
  const float scale = static_cast<float>(std::sqrt(static_cast<double>(x.size()) / s));
  for (float& a : x) a *= scale;
  return x;
}

// --- greedy decomposition --------------------------------------------------------------------

// On Gaussian vectors every transform reaches the tolerance in a bounded number of steps, the
// recomputed residual |x - u - Q^T v| agrees, and both factors are flat: |u|_inf and |v|_inf
// = |Q V|_inf are O(|x|_2 / sqrt(n)) = O(1) for unit-RMS x.
TEST(KashinGreedyTest, ConvergesWithFlatFactors) {
  for (TransformKind kind :
       {TransformKind::kHadamard, TransformKind::kDct, TransformKind::kDctSigned, TransformKind::kQr}) {
    for (int64_t n : {256, 1000, 1024}) {
      auto q = *kashin_internal::GetTransform(kind, n, 3);
      int64_t max_iter = 0;
      double max_inf = 0;
      for (uint64_t seed = 0; seed < 8; ++seed) {
        const std::vector<float> x = UnitRms(testing::Gaussian(n, 100 + seed));
        std::vector<float> u(n), v(n), work(3 * n);
        const GreedyResult g = kashin_internal::Decompose(*q, x.data(), GreedyOptions{1e-3, 100}, u.data(),
                                                          v.data(), work.data());
        ASSERT_TRUE(g.converged) << TransformName(kind) << " n=" << n;
        EXPECT_LE(g.residual, 1.05e-3);
        // Independent check of the residual in double.
        std::vector<double> back(v.begin(), v.end());
        q->Inverse(back.data());
        double ee = 0, xx = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double e = x[i] - u[i] - back[i];
          ee += e * e;
          xx += static_cast<double>(x[i]) * x[i];
        }
        EXPECT_NEAR(std::sqrt(ee / xx), g.residual, 1e-5);
        max_iter = std::max(max_iter, g.iterations);
        max_inf = std::max({max_inf, MaxAbs(u.data(), n), MaxAbs(v.data(), n)});
      }
      // Observed: 14-18 steps to 1e-3 and factors of at most 1.70 (in units of |x|_2 / sqrt(n);
      // the Gaussian x itself reaches about 3.3).
      EXPECT_LE(max_iter, 30) << TransformName(kind) << " n=" << n;
      EXPECT_LE(max_inf, 2.5) << TransformName(kind) << " n=" << n;
    }
  }
}

// The first step of a Gaussian vector is the projection onto sign(r) or Q^T sign(Q r):
// coefficient |.|_1 / n, and the energy it removes is exactly that coefficient squared times n.
TEST(KashinGreedyTest, OneStepIsTheProjection) {
  const int64_t n = 64;
  auto q = *kashin_internal::GetTransform(TransformKind::kHadamard, n, 1);
  const std::vector<float> x = UnitRms(testing::Gaussian(n, 7));
  std::vector<double> y(x.begin(), x.end());
  q->Forward(y.data());
  double l1x = 0, l1y = 0;
  for (int64_t i = 0; i < n; ++i) {
    l1x += std::fabs(x[i]);
    l1y += std::fabs(y[i]);
  }
  std::vector<float> u(n), v(n), work(3 * n);
  kashin_internal::Decompose(*q, x.data(), GreedyOptions{1e-3, 1}, u.data(), v.data(), work.data());
  if (l1x > l1y) {
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_FLOAT_EQ(u[i], static_cast<float>(l1x / n) * (x[i] > 0 ? 1.0f : -1.0f));
      ASSERT_EQ(v[i], 0.0f);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(u[i], 0.0f);
      ASSERT_FLOAT_EQ(v[i], static_cast<float>(l1y / n) * (y[i] > 0 ? 1.0f : -1.0f));
    }
  }
}

// The fast path (float, incremental r and y) follows the reference (double, recomputed) step
// for step on Gaussian vectors; the factors agree to float rounding.
TEST(KashinGreedyTest, FastMatchesReference) {
  for (TransformKind kind : {TransformKind::kHadamard, TransformKind::kDct, TransformKind::kQr}) {
    const int64_t n = 300;
    auto q = *kashin_internal::GetTransform(kind, n, 5);
    for (uint64_t seed = 0; seed < 5; ++seed) {
      const std::vector<float> x = UnitRms(testing::StudentT(n, seed, 4.0));
      std::vector<float> u1(n), v1(n), u2(n), v2(n), work(3 * n);
      const GreedyOptions o{1e-3, 100};
      const GreedyResult a = kashin_internal::DecomposeRef(*q, x.data(), o, u1.data(), v1.data());
      const GreedyResult b = kashin_internal::Decompose(*q, x.data(), o, u2.data(), v2.data(), work.data());
      EXPECT_TRUE(a.converged && b.converged);
      EXPECT_NEAR(static_cast<double>(a.iterations), static_cast<double>(b.iterations), 1.0)
          << TransformName(kind);
      EXPECT_NEAR(a.residual, b.residual, 2e-4);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(u1[i], u2[i], 2e-3) << TransformName(kind) << " i=" << i;
        ASSERT_NEAR(v1[i], v2[i], 2e-3) << TransformName(kind) << " i=" << i;
      }
    }
  }
}

TEST(KashinGreedyTest, ZeroVectorAndIterationCap) {
  const int64_t n = 32;
  auto q = *kashin_internal::GetTransform(TransformKind::kDct, n, 0);
  std::vector<float> zero(n, 0.0f), u(n, 1.0f), v(n, 1.0f), work(3 * n);
  GreedyResult g =
      kashin_internal::Decompose(*q, zero.data(), GreedyOptions{1e-3, 10}, u.data(), v.data(), work.data());
  EXPECT_TRUE(g.converged);
  EXPECT_EQ(g.iterations, 0);
  EXPECT_EQ(MaxAbs(u.data(), n) + MaxAbs(v.data(), n), 0.0);
  const std::vector<float> x = UnitRms(testing::Gaussian(n, 1));
  g = kashin_internal::Decompose(*q, x.data(), GreedyOptions{1e-6, 3}, u.data(), v.data(), work.data());
  EXPECT_FALSE(g.converged);
  EXPECT_EQ(g.iterations, 3);
  EXPECT_GT(g.residual, 1e-3);
}

// With one vector the slice-wide choice is the vector's own: DecomposeSlice is Decompose.
TEST(KashinGreedyTest, SliceOfOneIsTheVectorAlgorithm) {
  const int64_t n = 512;
  auto q = *kashin_internal::GetTransform(TransformKind::kDct, n, 2);
  for (uint64_t seed = 0; seed < 4; ++seed) {
    const std::vector<float> x = UnitRms(testing::StudentT(n, 40 + seed, 5.0));
    std::vector<float> u1(n), v1(n), u2(n), v2(n), work(3 * n);
    const GreedyResult a =
        kashin_internal::Decompose(*q, x.data(), GreedyOptions{1e-4, 100}, u1.data(), v1.data(), work.data());
    const kashin_internal::VectorTask task{q.get(), x.data(), u2.data(), v2.data()};
    const GreedyResult b = kashin_internal::DecomposeSlice(std::span(&task, 1), GreedyOptions{1e-4, 100})[0];
    EXPECT_EQ(a.iterations, b.iterations);
    EXPECT_EQ(a.residual, b.residual);
    EXPECT_EQ(u1, u2);
    EXPECT_EQ(v1, v2);
  }
}

// Vectors of a slice step together: after one step either every vector has a u part and no v
// part, or the reverse, although alone some would have chosen differently; each still reaches
// the tolerance (shared first steps, then its own), and the fast path follows the reference.
TEST(KashinGreedyTest, SliceVectorsTakeTheSameStep) {
  const int64_t n = 64, count = 40;
  auto q = *kashin_internal::GetTransform(TransformKind::kHadamard, n, 4);
  std::vector<std::vector<float>> x, u(count, std::vector<float>(n)), v = u, u_ref = u, v_ref = u;
  std::vector<kashin_internal::VectorTask> tasks, ref_tasks;
  int alone_u = 0;
  for (int64_t i = 0; i < count; ++i) {
    x.push_back(UnitRms(testing::Gaussian(n, 200 + i)));
    std::vector<float> a(n), b(n), work(3 * n);
    kashin_internal::Decompose(*q, x.back().data(), GreedyOptions{1e-3, 1}, a.data(), b.data(), work.data());
    alone_u += MaxAbs(a.data(), n) > 0;
  }
  for (int64_t i = 0; i < count; ++i) {
    tasks.push_back({q.get(), x[i].data(), u[i].data(), v[i].data()});
    ref_tasks.push_back({q.get(), x[i].data(), u_ref[i].data(), v_ref[i].data()});
  }
  EXPECT_GT(alone_u, 0);  // Gaussian vectors disagree about their first step
  EXPECT_LT(alone_u, count);
  kashin_internal::DecomposeSlice(tasks, GreedyOptions{1e-3, 1});
  int with_u = 0;
  for (int64_t i = 0; i < count; ++i) {
    const bool has_u = MaxAbs(u[i].data(), n) > 0, has_v = MaxAbs(v[i].data(), n) > 0;
    EXPECT_NE(has_u, has_v);
    with_u += has_u;
  }
  EXPECT_TRUE(with_u == 0 || with_u == count) << with_u;
  // As the method runs it at 4 bits: 6 shared steps, then each vector's own choice.
  const auto fast = kashin_internal::DecomposeSlice(tasks, GreedyOptions{1e-3, 100, 6});
  const auto ref = kashin_internal::DecomposeSliceRef(ref_tasks, GreedyOptions{1e-3, 100, 6});
  for (int64_t i = 0; i < count; ++i) {
    EXPECT_TRUE(fast[i].converged && ref[i].converged);
    EXPECT_LE(fast[i].residual, 1.05e-3);
    EXPECT_EQ(fast[i].iterations, ref[i].iterations) << i;
    for (int64_t j = 0; j < n; ++j) {
      ASSERT_NEAR(u[i][j], u_ref[i][j], 2e-3);
      ASSERT_NEAR(v[i][j], v_ref[i][j], 2e-3);
    }
  }
}

// --- k-means -----------------------------------------------------------------------------------

// Points on a noisy 2-D lattice like the factor pairs, plus duplicates and a far outlier.
void LatticePoints(int64_t n, uint64_t seed, std::vector<float>* pu, std::vector<float>* pv) {
  const std::vector<float> a = testing::Gaussian(n, seed, 0.1f), b = testing::Gaussian(n, seed + 1, 0.1f);
  const std::vector<float> s = testing::Gaussian(n, seed + 2);
  pu->resize(n);
  pv->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    (*pu)[i] = (s[i] > 0 ? 0.8f : -0.8f) + ((i % 3) == 0 ? 0.3f : -0.3f) + a[i];
    (*pv)[i] = ((i % 5) < 2 ? 0.5f : -0.5f) + b[i];
  }
  for (int64_t i = 0; i < n / 10; ++i) {
    (*pu)[i + n / 2] = (*pu)[0];
    (*pv)[i + n / 2] = (*pv)[0];
  }
  (*pu)[n - 1] = 25.0f;
}

TEST(KashinKMeansTest, FastMatchesReferenceBitForBit) {
  for (int k : {1, 2, 4, 16, 64, 256}) {
    for (int64_t n : {int64_t{200}, int64_t{40000}}) {
      std::vector<float> pu, pv;
      LatticePoints(n, static_cast<uint64_t>(k), &pu, &pv);
      KMeansOptions o{
          .k = k, .seed = 7, .sample_size = 20000, .pilot_size = 5000, .max_iterations = 50, .restarts = 3};
      std::vector<uint8_t> l1(n), l2(n);
      const Codebook a = kashin_internal::KMeans2DRef(pu.data(), pv.data(), n, o, l1.data());
      const Codebook b = kashin_internal::KMeans2D(pu.data(), pv.data(), n, o, l2.data());
      ASSERT_EQ(l1, l2) << "k=" << k << " n=" << n;
      ASSERT_EQ(a.cu, b.cu) << "k=" << k;
      ASSERT_EQ(a.cv, b.cv) << "k=" << k;
      EXPECT_EQ(a.iterations, b.iterations);
    }
  }
}

// The grid-pruned search returns exactly the brute-force labels, also for points on cell
// edges, coincident centroids and exact ties.
TEST(KashinKMeansTest, GridSearchEqualsBruteForce) {
  std::vector<float> pu, pv;
  LatticePoints(30000, 3, &pu, &pv);
  for (int i = 0; i <= 64; ++i) {  // a regular lattice: many points on cell boundaries
    for (int j = 0; j <= 64; ++j) {
      pu.push_back(-2.0f + i / 16.0f);
      pv.push_back(-2.0f + j / 16.0f);
    }
  }
  const int64_t n = static_cast<int64_t>(pu.size());
  for (int k : {2, 16, 100, 256}) {
    Codebook c = kashin_internal::KMeansPlusPlus(pu.data(), pv.data(), n, k, 5);
    if (k >= 16) {
      c.cu[3] = c.cu[2];  // a duplicated centroid: ties must go to index 2
      c.cv[3] = c.cv[2];
      c.cu[5] = 0.5f;  // two centroids equidistant from the lattice point (0.5, 0.5 +- 0.25)
      c.cv[5] = 0.75f;
      c.cu[6] = 0.5f;
      c.cv[6] = 0.25f;
    }
    std::vector<uint8_t> a(n), b(n);
    kashin_internal::AssignBrute(pu.data(), pv.data(), n, c, a.data());
    kashin_internal::AssignGrid(pu.data(), pv.data(), n, c, b.data());
    ASSERT_EQ(a, b) << "k=" << k;
    if (k >= 16) {
      EXPECT_EQ(std::count(a.begin(), a.end(), 3), 0);
    }
  }
}

TEST(KashinKMeansTest, DeterministicAndNeverWorseThanItsInitialisation) {
  std::vector<float> pu, pv;
  LatticePoints(5000, 11, &pu, &pv);
  const int64_t n = 5000;
  for (int k : {4, 16, 64}) {
    // All points are in the sample (n <= sample_size), so Lloyd's monotonicity applies to them.
    KMeansOptions o{
        .k = k, .seed = 1, .sample_size = 8192, .pilot_size = 8192, .max_iterations = 100, .restarts = 1};
    std::vector<uint8_t> l1(n), l2(n);
    const Codebook a = kashin_internal::KMeans2D(pu.data(), pv.data(), n, o, l1.data());
    const Codebook b = kashin_internal::KMeans2D(pu.data(), pv.data(), n, o, l2.data());
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(a.cu, b.cu);
    const Codebook init = kashin_internal::KMeansPlusPlus(pu.data(), pv.data(), n, k, o.seed);
    const double d_init = kashin_internal::Distortion(pu.data(), pv.data(), n, init);
    const double d_final = kashin_internal::Distortion(pu.data(), pv.data(), n, a);
    EXPECT_LE(d_final, d_init) << k;
    EXPECT_LT(d_final, 0.95 * d_init) << k;  // and Lloyd does real work on this data
    // Another seed gives another initialisation.
    o.seed = 2;
    const Codebook c = kashin_internal::KMeansPlusPlus(pu.data(), pv.data(), n, k, o.seed);
    EXPECT_NE(c.cu, init.cu);
  }
}

TEST(KashinKMeansTest, SampleIsStratifiedAndSeeded) {
  const auto all = kashin_internal::SampleIndices(100, 200, 1);
  ASSERT_EQ(all.size(), 100u);
  EXPECT_EQ(all.back(), 99);
  const auto s = kashin_internal::SampleIndices(1000000, 1000, 1);
  ASSERT_EQ(s.size(), 1000u);
  for (size_t i = 0; i < s.size(); ++i) {
    ASSERT_GE(s[i], static_cast<int64_t>(i) * 1000);
    ASSERT_LT(s[i], static_cast<int64_t>(i + 1) * 1000);
  }
  EXPECT_NE(kashin_internal::SampleIndices(1000000, 1000, 2), s);
}

// --- the method --------------------------------------------------------------------------------

// Decoding rebuilds s * (C_u[label] + Q^T C_v[label]) exactly as written (checked here with an
// independent double computation from the sections), for each transform and a short last block.
TEST(KashinTest, DecodeIsTheDocumentedFormula) {
  const int64_t rows = 3, cols = 100;
  const std::vector<float> w = testing::Gaussian(rows * cols, 4, 0.05f);
  for (const char* t : {"hadamard", "dct", "dct_signed", "qr"}) {
    Encoding e = MustEncode(
        w, rows, cols,
        {{"bits", "3"}, {"transform", t}, {"block_length", "32"}, {"scale_dtype", "f32"}, {"seed", "9"}});
    auto back = DecodeRows(e);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    auto kind = *KashinOptions::FromParams(e.params);
    std::vector<uint32_t> lab(cols);
    const auto cb = e.Find("codebook")->view<float>();
    const auto scales = e.Find("scales")->view<float>();
    ASSERT_EQ(e.Find("scales")->shape, (std::vector<int64_t>{rows, 4}));
    for (int64_t r = 0; r < rows; ++r) {
      UnpackBits(std::span<const uint8_t>(e.Find("codes")->data.data() + r * PackedBytes(cols, 3),
                                          PackedBytes(cols, 3)),
                 3, lab);
      for (int64_t b = 0; b < 4; ++b) {
        const int64_t len = b < 3 ? 32 : 4;
        auto q = *kashin_internal::GetTransform(kind.transform, len, 9);
        std::vector<double> cv(len);
        for (int64_t i = 0; i < len; ++i) cv[i] = cb[2 * lab[b * 32 + i] + 1];
        q->Inverse(cv.data());
        for (int64_t i = 0; i < len; ++i) {
          const double expect = scales[r * 4 + b] * (cb[2 * lab[b * 32 + i]] + cv[i]);
          ASSERT_NEAR((*back)[r * cols + b * 32 + i], expect, 1e-5 * std::fabs(scales[r * 4 + b])) << t;
        }
      }
    }
  }
}

// The sections, their shapes and the bits per weight: b bits per weight plus one f16 scale per
// row, the codebook and 12 parameters.
TEST(KashinTest, LayoutAndBitsPerWeight) {
  const int64_t rows = 40, cols = 256;
  const std::vector<float> w = testing::Gaussian(rows * cols, 5, 0.02f);
  for (int bits = 1; bits <= 8; ++bits) {
    Encoding e = MustEncode(w, rows, cols, {{"bits", std::to_string(bits)}});
    ASSERT_EQ(e.sections.size(), 5u);
    EXPECT_EQ(e.sections[0].name, "codes");
    EXPECT_EQ(e.sections[0].shape,
              (std::vector<int64_t>{rows, static_cast<int64_t>(PackedBytes(cols, bits))}));
    EXPECT_EQ(e.sections[1].name, "scales");
    EXPECT_EQ(e.sections[1].dtype, DType::kF16);
    EXPECT_EQ(e.sections[1].shape, (std::vector<int64_t>{rows, 1}));
    EXPECT_EQ(e.sections[2].name, "codebook");
    EXPECT_EQ(e.sections[2].shape, (std::vector<int64_t>{1, 1 << bits, 2}));
    EXPECT_EQ(e.sections[3].name, "fallback_rows");
    EXPECT_EQ(e.sections[3].shape, (std::vector<int64_t>{0}));
    EXPECT_EQ(e.sections[4].name, "fallback_values");
    EXPECT_EQ(e.params.size(), 12u);
    const double expect =
        (rows * PackedBytes(cols, bits) * 8.0 + rows * 16.0 + (1 << bits) * 64.0 + 12 * 32.0) / (rows * cols);
    EXPECT_NEAR(e.BitsPerWeight(), expect, 1e-12) << bits;
    EXPECT_EQ(e.stats.at("vectors"), rows);
    EXPECT_EQ(e.stats.at("vectors_not_converged"), 0);
    EXPECT_EQ(e.stats.at("rows_unquantized"), 0);
    EXPECT_GT(e.stats.at("iterations_sum"), rows);
    EXPECT_LE(e.stats.at("residual_max"), 1e-3);
  }
}

TEST(KashinTest, QualityGrowsWithBits) {
  const int64_t rows = 64, cols = 512;
  const std::vector<float> w = testing::Gaussian(rows * cols, 6, 0.02f);
  double prev = 0;
  for (int bits = 1; bits <= 8; ++bits) {
    Encoding e = MustEncode(w, rows, cols, {{"bits", std::to_string(bits)}});
    const double sqnr = testing::SqnrDb(w, *DecodeRows(e));
    EXPECT_GT(sqnr, prev + 2.5) << bits;
    prev = sqnr;
  }
  // Observed 4.3, 8.9, 13.2, 17.3, 21.1, 25.2, 28.5, 31.7 dB for 1..8 bits on Gaussian rows:
  // each bit buys about one more greedy level of the factor lattice, 3-4.5 dB, not the 6 dB of a
  // uniform grid.
  EXPECT_GT(prev, 30.0);
}

TEST(KashinTest, ZeroRowsDecodeToZero) {
  const int64_t rows = 4, cols = 64;
  std::vector<float> w = testing::Gaussian(rows * cols, 8);
  std::fill(w.begin() + cols, w.begin() + 2 * cols, 0.0f);
  Encoding e = MustEncode(w, rows, cols, {{"bits", "4"}});
  auto back = DecodeRows(e);
  ASSERT_TRUE(back.ok());
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ((*back)[cols + c], 0.0f);
  EXPECT_EQ(e.stats.at("vectors_not_converged"), 0);
}

// Degenerate shapes (single weights, single rows or columns, short blocks) round-trip in every
// mode and transform: with 8 bits every point gets its own centroid, so the only errors left are
// the greedy residual (1e-3) and the scale's f16 rounding.
TEST(KashinTest, TinyShapes) {
  struct Shape {
    int64_t rows, cols;
  };
  for (const Shape& sh : {Shape{1, 1}, Shape{3, 1}, Shape{1, 5}, Shape{5, 2}, Shape{2, 7}}) {
    const std::vector<float> w = testing::Gaussian(sh.rows * sh.cols, 15, 0.1f);
    for (const char* t : {"hadamard", "dct", "dct_signed", "qr"}) {
      for (const char* mode : {"rows", "matrix"}) {
        Params p{{"transform", t}, {"mode", mode}, {"bits", "8"}};
        if (std::string(mode) == "rows" && sh.cols > 2) p.Set("block_length", "2");
        Encoding e = MustEncode(w, sh.rows, sh.cols, p);
        auto back = DecodeRows(e);
        ASSERT_TRUE(back.ok()) << back.status().ToString();
        // At most 256 distinct points: 8 bits give every weight its own centroid.
        for (size_t i = 0; i < w.size(); ++i) {
          EXPECT_NEAR((*back)[i], w[i], 2e-3 * (std::fabs(w[i]) + 0.1f)) << t << " " << mode;
        }
      }
    }
  }
}

TEST(KashinTest, SameBytesWhateverTheThreadCount) {
#if QUANTD_HAVE_TBB
  // Enough weights for several k-means blocks and, in matrix mode, several greedy chunks.
  const int64_t rows = 160, cols = 256;
  const std::vector<float> w = testing::StudentT(rows * cols, 9, 4.0, 0.02f);
  for (const char* mode : {"rows", "matrix", "vector"}) {
    for (const char* bits : {"2", "7"}) {
      Params p{{"mode", mode}, {"bits", bits}, {"transform", "dct"}};
      if (std::string(mode) == "vector") p = Params{{"step_choice", "vector"}, {"bits", bits}};
      Encoding one, many;
      tbb::task_arena(1).execute([&] { one = MustEncode(w, rows, cols, p); });
      tbb::task_arena(4).execute([&] { many = MustEncode(w, rows, cols, p); });
      EXPECT_EQ(one, many) << mode << " bits=" << bits;
    }
  }
#else
  GTEST_SKIP() << "built without TBB";
#endif
}

// The whole pipeline with the reference kernels gives the same layout and nearly the same
// quality as the method (the float fast greedy follows the double reference closely).
TEST(KashinTest, ReferencePipelineAgrees) {
  const int64_t rows = 24, cols = 128;
  const std::vector<float> w = testing::StudentT(rows * cols, 10, 4.0, 0.02f);
  const std::vector<int64_t> shape = {rows, cols};
  Chunk b{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w};
  for (const char* bits : {"2", "4"}) {
    const Params p{{"bits", bits}};
    Encoding fast = MustEncode(w, rows, cols, p);
    auto opts = *KashinOptions::FromParams(*KashinMethod().Resolve(p, cols));
    auto ref = kashin_internal::EncodeWith(b, opts, kashin_internal::RefKernels());
    ASSERT_TRUE(ref.ok());
    ref->method = fast.method;
    ref->params = fast.params;
    ref->shape = fast.shape;
    ref->row_end = rows;
    ref->cols = cols;
    ASSERT_EQ(ref->sections.size(), fast.sections.size());
    EXPECT_EQ(ref->sections[1], fast.sections[1]);  // scales do not depend on the kernels
    const double s_fast = testing::SqnrDb(w, *DecodeRows(fast));
    const double s_ref = testing::SqnrDb(w, *DecodeRows(*ref));
    EXPECT_NEAR(s_fast, s_ref, 0.5) << bits;
  }
}

TEST(KashinTest, MatrixModeIsWholeTensorOnly) {
  const int64_t rows = 32, cols = 48;
  const std::vector<float> w = testing::Gaussian(rows * cols, 12, 0.02f);
  const Params p{{"mode", "matrix"}};
  EXPECT_FALSE(KashinMethod().AllowsRowChunks(*KashinMethod().Resolve(p, cols)));
  EXPECT_TRUE(KashinMethod().AllowsRowChunks(*KashinMethod().Resolve({}, cols)));
  const std::vector<int64_t> shape = {rows, cols};
  Chunk part{.tensor_name = "m",
             .shape = shape,
             .row_begin = 8,
             .rows = 8,
             .cols = cols,
             .data = std::span<const float>(w).subspan(8 * cols, 8 * cols)};
  EXPECT_THAT(EncodeRows(part, "kashin", p),
              StatusIs(StatusCode::kInvalidArgument, "must encode the whole tensor at once"));
  for (const char* t : {"hadamard", "dct", "qr"}) {
    Encoding e =
        MustEncode(w, rows, cols, {{"mode", "matrix"}, {"transform", t}, {"max_iterations", "1000"}});
    EXPECT_EQ(e.Find("scales")->shape, (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(e.stats.at("vectors"), 1);
    EXPECT_EQ(e.stats.at("vectors_not_converged"), 0) << t;
    EXPECT_GT(testing::SqnrDb(w, *DecodeRows(e)), 13.0) << t;
  }
}

// Rows that miss the tolerance: kept unquantized (and paid for) or quantized anyway.
TEST(KashinTest, NonConvergedPolicy) {
  const int64_t rows = 6, cols = 64;
  std::vector<float> w = testing::Gaussian(rows * cols, 13, 0.02f);
  const Params strict{{"tolerance", "1e-6"}, {"max_iterations", "2"}, {"fallback_dtype", "f32"}};
  Encoding keep = MustEncode(w, rows, cols, strict);
  EXPECT_EQ(keep.stats.at("vectors_not_converged"), rows);
  EXPECT_EQ(keep.stats.at("rows_unquantized"), rows);
  EXPECT_EQ(keep.Find("fallback_rows")->shape, (std::vector<int64_t>{rows}));
  auto back = DecodeRows(keep);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, w);  // f32 fallback rows are exact
  EXPECT_GT(keep.BitsPerWeight(), 32.0 + 4.0);
  Params quantize = strict;
  quantize.Set("non_converged", "quantize");
  Encoding q = MustEncode(w, rows, cols, quantize);
  EXPECT_EQ(q.Find("fallback_rows"), nullptr);
  EXPECT_EQ(q.stats.at("vectors_not_converged"), rows);
  EXPECT_EQ(q.stats.at("rows_unquantized"), 0);
  // 4-bit codes, f16 scales, the 16-entry codebook and 12 parameters; no fallback sections.
  EXPECT_NEAR(q.BitsPerWeight(), (rows * 32 * 8 + rows * 16 + 16 * 64 + 12 * 32) / double(rows * cols),
              1e-12);
  EXPECT_GT(testing::SqnrDb(w, *DecodeRows(q)), 3.0);
  // Only some rows fail: a zero row converges at once, a max_iterations of 1 fails the rest.
  std::fill(w.begin(), w.begin() + cols, 0.0f);
  Encoding some = MustEncode(w, rows, cols, {{"max_iterations", "1"}});
  EXPECT_EQ(some.stats.at("rows_unquantized"), rows - 1);
  const auto idx = some.Find("fallback_rows")->view<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.end()), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // Matrix mode falls back as a whole.
  Encoding m = MustEncode(w, rows, cols, {{"mode", "matrix"}, {"max_iterations", "1"}});
  EXPECT_EQ(m.stats.at("rows_unquantized"), rows);
}

TEST(KashinTest, RejectsBadParameters) {
  std::vector<float> w(64, 1.0f);
  const std::vector<int64_t> shape = {2, 32};
  Chunk b{.tensor_name = "layer.w", .shape = shape, .rows = 2, .cols = 32, .data = w};
  EXPECT_THAT(EncodeRows(b, "kashin", {{"bits", "0"}}),
              StatusIs(StatusCode::kInvalidArgument, "'bits' = 0 is out of range [1, 8]"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"bits", "9"}}),
              StatusIs(StatusCode::kInvalidArgument, "'bits' = 9 is out of range [1, 8]"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"tolerance", "0"}}),
              StatusIs(StatusCode::kInvalidArgument, "'tolerance' = 0 must lie strictly between 0 and 1"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"tolerance", "-1e-3"}}),
              StatusIs(StatusCode::kInvalidArgument, "'tolerance' = -0.001"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"tolerance", "1"}}),
              StatusIs(StatusCode::kInvalidArgument, "'tolerance' = 1 must"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"tolerance", "abc"}}),
              StatusIs(StatusCode::kInvalidArgument, "must be a number"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"transform", "fourier"}}),
              StatusIs(StatusCode::kInvalidArgument,
                       "'transform' = 'fourier' is not one of hadamard, dct, dct_signed, qr"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"mode", "cols"}}),
              StatusIs(StatusCode::kInvalidArgument, "not one of rows, matrix"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"max_iterations", "0"}}),
              StatusIs(StatusCode::kInvalidArgument, "max_iterations"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"seed", "-1"}}),
              StatusIs(StatusCode::kInvalidArgument, "'seed' = -1"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"non_converged", "drop"}}),
              StatusIs(StatusCode::kInvalidArgument, "not one of keep, quantize"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"mode", "matrix"}, {"block_length", "16"}}),
              StatusIs(StatusCode::kInvalidArgument, "applies to mode=rows only"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"kmeans_restarts", "0"}}),
              StatusIs(StatusCode::kInvalidArgument, "kmeans_restarts"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"step_choice", "row"}}),
              StatusIs(StatusCode::kInvalidArgument, "not one of slice, vector"));
  EXPECT_THAT(EncodeRows(b, "kashin", {{"bitz", "4"}}),
              StatusIs(StatusCode::kInvalidArgument, "unknown parameter 'bitz' for method kashin"));
  EXPECT_THAT(KashinMethod().Resolve({{"transform", "qr"}}, 5000),
              StatusIs(StatusCode::kInvalidArgument, "set block_length <= 4096"));
  EXPECT_TRUE(KashinMethod().Resolve({{"transform", "qr"}, {"block_length", "1024"}}, 5000).ok());
}

TEST(KashinTest, ScaleOverflowIsAnError) {
  std::vector<float> w(32, 1e6f);
  const std::vector<int64_t> shape = {1, 32};
  Chunk b{.tensor_name = "big", .shape = shape, .rows = 1, .cols = 32, .data = w};
  EXPECT_THAT(EncodeRows(b, "kashin", {}), StatusIs(StatusCode::kInvalidArgument, "use scale_dtype=f32"));
  EXPECT_TRUE(EncodeRows(b, "kashin", {{"scale_dtype", "f32"}}).ok());
}

TEST(KashinTest, DecodeRejectsMalformedEncodings) {
  const std::vector<float> w = testing::Gaussian(4 * 32, 14);
  Encoding good = MustEncode(w, 4, 32, {{"bits", "3"}, {"max_iterations", "1"}});
  ASSERT_EQ(good.Find("fallback_rows")->shape, (std::vector<int64_t>{4}));
  const auto decoded = DecodeRows(good);
  QUANTD_ASSERT_OK(decoded);
  auto expect_bad = [&](auto mutate, const char* msg) {
    Encoding e = good;
    mutate(e);
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, msg));
  };
  expect_bad([](Encoding& e) { e.FindMutable("codes")->data.pop_back(); }, "section 'codes'");
  expect_bad([](Encoding& e) { e.FindMutable("codebook")->shape = {1, 16, 2}; }, "section 'codebook'");
  expect_bad([](Encoding& e) { e.FindMutable("scales")->dtype = DType::kF32; }, "section 'scales'");
  expect_bad([](Encoding& e) { e.sections.erase(e.sections.begin() + 2); }, "no section 'codebook'");
  expect_bad([](Encoding& e) { e.sections.erase(e.sections.begin() + 3); }, "'fallback_rows'");
  expect_bad([](Encoding& e) { e.FindMutable("fallback_rows")->mutable_view<int64_t>()[1] = 0; },
             "increasing row indices");
  expect_bad([](Encoding& e) { e.FindMutable("fallback_rows")->mutable_view<int64_t>()[3] = 4; },
             "entry 3 is 4");
  expect_bad(
      [](Encoding& e) {
        e.FindMutable("fallback_values")->shape = {3, 32};
      },
      "section 'fallback_values'");
  expect_bad([](Encoding& e) { e.params.Set("bits", "9"); }, "bits");
  expect_bad([](Encoding& e) { e.params.Erase("tolerance"); }, "incomplete");
  expect_bad([](Encoding& e) { e.params.Set("transform", "wavelet"); }, "transform");
}

// Real trained weights: every projection matrix of both models at 2, 3 and 4 bits, in rows
// and matrix mode, against the SQNR they reach over the model (observed values in the table;
// bench/results/kashin.md compares them with RTN). These models have rows of 64 to 352
// weights, on which rows mode is weak: the step order of the greedy algorithm (u or v first)
// differs from row to row, so the rows' factor lattices do not line up under one codebook.
TEST(KashinTest, RealWeights) {
  struct Case {
    const char* file;
    const char* mode;
    double min_sqnr[3];  // at 2, 3, 4 bits
  };
  const Case cases[] = {
      {"stories260K/stories260K.bin", "rows", {8.6, 12.7, 16.5}},                // observed 9.14 13.33 17.11
      {"stories260K/stories260K.bin", "rows_vector", {5.0, 8.3, 11.1}},          // observed 5.52 8.85 11.68
      {"stories260K/stories260K.bin", "matrix", {7.9, 11.9, 15.9}},              // observed 8.43 12.52 16.50
      {"en10_babyllama_tok105/model5000.bin", "rows", {8.6, 12.6, 16.7}},        // observed 9.16 13.19 17.34
      {"en10_babyllama_tok105/model5000.bin", "rows_vector", {5.0, 8.4, 11.4}},  // observed 5.49 8.97 11.94
      {"en10_babyllama_tok105/model5000.bin", "matrix", {8.2, 12.4, 16.4}},      // observed 8.76 13.00 17.04
  };
  for (const Case& c : cases) {
    std::string error;
    const auto mats = testing::ReadLlama2c(testing::RealDataDir() + "/" + c.file, &error).LinearLayers();
    ASSERT_TRUE(error.empty()) << error << " (set QUANTD_DATA_DIR to the shared data folder)";
    ASSERT_FALSE(mats.empty());
    for (int bits = 2; bits <= 4; ++bits) {
      double signal = 0, error = 0;
      for (const auto& m : mats) {
        Params p{{"bits", std::to_string(bits)}, {"mode", c.mode}};
        if (std::string(c.mode) == "rows_vector")
          p = Params{{"bits", std::to_string(bits)}, {"step_choice", "vector"}};
        Encoding e = MustEncode(m.data, m.rows, m.cols, p);
        const std::vector<float> back = *DecodeRows(e);
        for (size_t i = 0; i < back.size(); ++i) {
          signal += static_cast<double>(m.data[i]) * m.data[i];
          error += (static_cast<double>(m.data[i]) - back[i]) * (m.data[i] - back[i]);
        }
        EXPECT_EQ(e.stats.at("vectors_not_converged"), 0) << m.name;
      }
      const double sqnr = 10 * std::log10(signal / error);
      EXPECT_GT(sqnr, c.min_sqnr[bits - 2]) << c.file << " " << c.mode << " bits=" << bits;
    }
  }
}

}  // namespace
}  // namespace quantd
