#include "core/crossquant/crossquant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/common/bitpack.h"
#include "quantd/core/quantize.h"
#include "quantd/core/tensor_encoding.h"
#include "tests/testing/real_weights.h"
#include "tests/testing/test_util.h"
#if QUANTD_HAVE_TBB
#include <tbb/task_arena.h>
#endif

namespace quantd {
namespace {

using ::quantd::crossquant_internal::Block;
using ::quantd::testing::StatusIs;

CrossQuantOptions Opt(int bits, double alpha, DType scale_dtype = DType::kF32, bool static_columns = false) {
  return CrossQuantOptions{
      .bits = bits, .alpha = alpha, .scale_dtype = scale_dtype, .static_columns = static_columns};
}

StatusOr<Encoding> Encode(const std::vector<float>& w, int64_t rows, int64_t cols, const Params& p,
                          const Calibration* cal = nullptr) {
  return testing::EncodeMatrix("crossquant", w, rows, cols, p, cal);
}

Encoding MustEncode(const std::vector<float>& w, int64_t rows, int64_t cols, const Params& p,
                    const Calibration* cal = nullptr) {
  return testing::MustEncodeMatrix("crossquant", w, rows, cols, p, cal);
}

// The signed codes q of packed offset-binary rows.
std::vector<int> SignedCodes(const uint8_t* packed, int64_t rows, int64_t cols, int bits) {
  const size_t row_bytes = PackedBytes(cols, bits);
  std::vector<int> q(rows * cols);
  std::vector<uint32_t> u(cols);
  for (int64_t i = 0; i < rows; ++i) {
    UnpackBits(std::span<const uint8_t>(packed + i * row_bytes, row_bytes), bits, u);
    for (int64_t j = 0; j < cols; ++j) q[i * cols + j] = static_cast<int>(u[j]) - (1 << (bits - 1));
  }
  return q;
}

std::vector<float> Floats(const Section& s) {
  std::vector<float> f(static_cast<size_t>(s.num_elements()));
  EXPECT_TRUE(ConvertToFloat(s.dtype, s.data, f).ok());
  return f;
}

// Bitwise equality, so that -0 differs from 0 and NaN is caught.
void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(FloatBits(a[i]), FloatBits(b[i])) << what << " at " << i << ": " << a[i] << " vs " << b[i];
  }
}

// Heavy-tailed rows with a few outlier columns and some exact zeros, as activations look.
std::vector<float> ActivationLike(int64_t rows, int64_t cols, uint64_t seed) {
  auto x = testing::StudentT(static_cast<size_t>(rows * cols), seed, 3.0, 0.5f);
  std::mt19937_64 rng(seed);
  for (int64_t j = 0; j < cols; j += 17) {
    for (int64_t i = 0; i < rows; ++i) x[i * cols + j] *= 40.0f;
  }
  for (int k = 0; k < rows * cols / 10; ++k) x[rng() % x.size()] = 0.0f;
  return x;
}

// The row-kernel variants this CPU can run.
std::vector<crossquant_internal::Isa> Isas() {
  using crossquant_internal::Isa;
  std::vector<Isa> v = {Isa::kPortable};
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (crossquant_internal::IsaAvailable(isa)) v.push_back(isa);
  }
  return v;
}

// Compares the fast path (every variant) with the reference for one block: codes, maxima,
// counts, decode.
void ExpectFastMatchesRef(const std::vector<float>& x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
                          const float* static_c, const std::string& what) {
  Block ref;
  ASSERT_TRUE(crossquant_internal::EncodeRef(x.data(), rows, cols, o, static_c, &ref)) << what;
  std::vector<float> d1(x.size());
  ASSERT_TRUE(crossquant_internal::DecodeRef(ref.codes.data(), ref.row_max.data(), ref.col_max.data(), rows,
                                             cols, o, d1.data()));
  for (auto isa : Isas()) {
    const std::string w = what + " isa " + std::to_string(static_cast<int>(isa));
    Block fast;
    ASSERT_TRUE(crossquant_internal::EncodeFast(x.data(), rows, cols, o, static_c, &fast, isa)) << w;
    ASSERT_EQ(ref.codes, fast.codes) << w;
    ExpectSameBits(ref.row_max, fast.row_max, w + " row_max");
    ExpectSameBits(ref.col_max, fast.col_max, w + " col_max");
    EXPECT_EQ(ref.counts, fast.counts) << w;
    std::vector<float> d2(x.size());
    ASSERT_TRUE(crossquant_internal::DecodeFast(ref.codes.data(), ref.row_max.data(), ref.col_max.data(),
                                                rows, cols, o, d2.data(), isa));
    ExpectSameBits(d1, d2, w + " decode");
  }
}

// A hand-computed block at 4 bits (qmax = 7), alpha = 0.5, where every square root is exact:
// t = (4, 1, 0), c = (4, 1, 0.25, 0), s_i = sqrt(t_i)/7, v_j = sqrt(c_j), D_ij = s_i v_j.
TEST(CrossQuantTest, KnownValues) {
  const std::vector<float> x = {4.0f, -0.5f, 0.25f,    0.0f,   //
                                0.8f, 1.0f,  -0.0625f, 0.0f,   //
                                0.0f, 0.0f,  0.0f,     0.0f};  // an all-zero row; the last column is zero
  Encoding e = MustEncode(x, 3, 4, {{"bits", "4"}, {"alpha", "0.5"}});
  // Row 0: 4/(4/7) = 7, -0.5/(2/7) = -1.75, 0.25/(1/7) = 1.75. Row 1: 0.8/(2/7) = 2.8, 1/(1/7) = 7,
  // -0.0625/(0.5/7) = -0.875. D = 0 elsewhere.
  EXPECT_EQ(SignedCodes(e.Find("codes")->data.data(), 3, 4, 4),
            (std::vector<int>{7, -2, 2, 0, 3, 7, -1, 0, 0, 0, 0, 0}));
  // Offset binary, low nibble first: row 0 stores 15, 6, 10, 8.
  EXPECT_EQ(e.Find("codes")->data[0], 0x6F);
  EXPECT_EQ(e.Find("codes")->data[1], 0x8A);
  EXPECT_EQ(Floats(*e.Find("row_max")), (std::vector<float>{4, 1, 0}));
  EXPECT_EQ(e.Find("col_max")->shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(Floats(*e.Find("col_max")), (std::vector<float>{4, 1, 0.25f, 0}));
  // Per-token (step t_i / 7) sends 0.25 (0.4375 steps) and -0.0625 (0.4375 steps) to zero;
  // CrossQuant keeps both.
  EXPECT_EQ(e.stats.at("nonzero_count"), 6);
  EXPECT_EQ(e.stats.at("kernel_count"), 0);
  EXPECT_EQ(e.stats.at("per_token_kernel_count"), 2);
  EXPECT_EQ(e.stats.at("clamp_count"), 0);
  auto back = DecodeRows(e);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const float d47 = static_cast<float>(4.0 / 7), d27 = static_cast<float>(2.0 / 7);
  const float d17 = static_cast<float>(1.0 / 7), d057 = static_cast<float>(0.5 / 7);
  ExpectSameBits(*back, {7 * d47, -2 * d27, 2 * d17, 0, 3 * d27, 7 * d17, -1 * d057, 0, 0, 0, 0, 0},
                 "decode");
}

// The FORMAT.md claim the fast path relies on: for floats x and d, rounding the double quotient
// x/d to an integer (ties to even) gives the rounding of the exact quotient. Checked on quotients
// placed a few ulps around every half-integer, where a float quotient would go wrong; the exact
// residual x - r*d is computable in double there.
TEST(CrossQuantTest, DoubleQuotientRoundsLikeTheExactQuotient) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> expo(-60, 60), half(0, 255), ulps(-3, 3);
  int float_wrong = 0;
  for (int n = 0; n < 200000; ++n) {
    const float d = std::ldexp(mant(rng), expo(rng));
    float x = static_cast<float>((half(rng) + 0.5) * d);
    for (int u = ulps(rng); u != 0; u += u > 0 ? -1 : 1) {
      x = std::nextafter(x, u > 0 ? INFINITY : -INFINITY);
    }
    const double r = std::nearbyint(static_cast<double>(x) / static_cast<double>(d));
    const double e = static_cast<double>(x) - r * static_cast<double>(d);  // exact
    const double h = 0.5 * static_cast<double>(d);
    ASSERT_TRUE(std::fabs(e) < h || (std::fabs(e) == h && std::fmod(r, 2.0) == 0))
        << "x=" << x << " d=" << d << " r=" << r;
    float_wrong += std::nearbyint(x / d) != r;
  }
  EXPECT_GT(float_wrong, 0);  // the float quotient does not have this property
}

TEST(CrossQuantTest, TiesRoundToEven) {
  // 2 bits (qmax = 1), alpha = 0.5, t = c = 4 on the diagonal: steps are exact powers of two.
  // x = (4, 1, 2, 4): t = (4, 4), c = (4, 4). Row 0: 4/4 = 1, 1/4 = 0.25. Row 1: 2/4 = 0.5 -> 0
  // (even), 4/4 = 1.
  const std::vector<float> x = {4, 1, 2, 4};
  Encoding e = MustEncode(x, 2, 2, {{"bits", "2"}, {"alpha", "0.5"}});
  EXPECT_EQ(SignedCodes(e.Find("codes")->data.data(), 2, 2, 2), (std::vector<int>{1, 0, 0, 1}));
  EXPECT_EQ(e.stats.at("kernel_count"), 2);
  // 8 bits, alpha = 1: step 254/127 = 2; 3/2 = 1.5 -> 2, 5/2 = 2.5 -> 2, -1/2 -> -0.
  const std::vector<float> y = {254, 3, 5, -1};
  Encoding f = MustEncode(y, 1, 4, {{"alpha", "1"}});
  EXPECT_EQ(SignedCodes(f.Find("codes")->data.data(), 1, 4, 8), (std::vector<int>{127, 2, 2, 0}));
}

// Fast path == reference bit for bit: every width, several alphas, both maxima dtypes, static
// and dynamic columns, shapes with odd widths.
TEST(CrossQuantTest, FastMatchesReferenceExactly) {
  struct Shape {
    int64_t rows, cols;
  };
  const Shape shapes[] = {{1, 1}, {3, 7}, {17, 64}, {40, 333}, {130, 96}, {1100, 9}};
  uint64_t seed = 20;
  for (const Shape& s : shapes) {
    const auto x = ActivationLike(s.rows, s.cols, seed++);
    // Calibration maxima: the block's own ones scaled by 0.3..1.5, with one zero.
    std::vector<float> cal(s.cols);
    Block own;
    ASSERT_TRUE(crossquant_internal::EncodeRef(x.data(), s.rows, s.cols, Opt(8, 0.15), nullptr, &own));
    for (int64_t j = 0; j < s.cols; ++j) cal[j] = own.col_max[j] * (0.3f + 0.2f * static_cast<float>(j % 7));
    cal[0] = 0;
    for (int bits = 2; bits <= 8; ++bits) {
      for (double alpha : {0.0, 0.15, 0.37, 0.5, 1.0}) {
        for (DType md : {DType::kF32, DType::kF16}) {
          for (bool st : {false, true}) {
            const std::string what = std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                                     " bits=" + std::to_string(bits) + " alpha=" + std::to_string(alpha) +
                                     (md == DType::kF16 ? " f16" : " f32") + (st ? " static" : "");
            ExpectFastMatchesRef(x, s.rows, s.cols, Opt(bits, alpha, md, st), st ? cal.data() : nullptr,
                                 what);
          }
        }
      }
    }
  }
}

// Wide blocks take their maxima in tiles of row blocks x column stripes: still the same bytes.
TEST(CrossQuantTest, MaximaTilingMatchesReference) {
  struct Shape {
    int64_t rows, cols;
  };
  for (const Shape& s : {Shape{1, 5000}, Shape{3, 2500}, Shape{32, 1100}, Shape{100, 1030}}) {
    const auto x = ActivationLike(s.rows, s.cols, static_cast<uint64_t>(s.rows * s.cols));
    ExpectFastMatchesRef(x, s.rows, s.cols, Opt(6, 0.15), nullptr,
                         std::to_string(s.rows) + "x" + std::to_string(s.cols));
  }
}

// Inputs placed within a few ulps of half-integer multiples of their step, where rounding a float
// quotient (or any other shortcut) would disagree with the definition.
TEST(CrossQuantTest, NearTiesMatchReference) {
  const int64_t rows = 64, cols = 64;
  const float big = 8.0f;  // column 0: every t_i = 8
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<float> col(1.0f, 4.0f);
  for (int bits : {3, 8}) {
    for (double alpha : {0.15, 0.5}) {
      const int qmax = (1 << (bits - 1)) - 1;
      std::vector<float> x(rows * cols);
      for (int64_t i = 0; i < rows; ++i) x[i * cols] = big;
      for (int64_t j = 1; j < cols; ++j) {
        const float c = col(rng);
        x[j] = c;  // row 0 holds c_j
        const float d = static_cast<float>(std::pow(double{big}, alpha) / qmax) *
                        static_cast<float>(std::pow(double{c}, 1 - alpha));
        const int kmax = std::max(1, static_cast<int>(c / d - 0.5));
        for (int64_t i = 1; i < rows; ++i) {
          float v = static_cast<float>((static_cast<int>(rng() % kmax) + 0.5) * d);
          for (int u = static_cast<int>(rng() % 5) - 2; u != 0; u += u > 0 ? -1 : 1) {
            v = std::nextafter(v, u > 0 ? INFINITY : 0.0f);
          }
          x[i * cols + j] = (rng() & 1) ? std::min(v, c) : -std::min(v, c);
        }
      }
      ExpectFastMatchesRef(x, rows, cols, Opt(bits, alpha), nullptr,
                           "near ties bits=" + std::to_string(bits));
      // Static columns equal to these maxima (the same steps), and every fifth row moved next to
      // +-(qmax + 1/2) steps, the boundary between the last level and a clamp (still below t = 8).
      Block own;
      ASSERT_TRUE(crossquant_internal::EncodeRef(x.data(), rows, cols, Opt(bits, alpha), nullptr, &own));
      std::vector<float> y = x;
      for (int64_t i = 1; i < rows; i += 5) {
        for (int64_t j = 1; j < cols; ++j) {
          const float d = static_cast<float>(std::pow(double{big}, alpha) / qmax) *
                          static_cast<float>(std::pow(double{own.col_max[j]}, 1 - alpha));
          float v = static_cast<float>((qmax + 0.5) * d);
          for (int u = static_cast<int>(rng() % 5) - 2; u != 0; u += u > 0 ? -1 : 1) {
            v = std::nextafter(v, u > 0 ? INFINITY : 0.0f);
          }
          y[i * cols + j] = (rng() & 1) ? v : -v;
        }
      }
      ExpectFastMatchesRef(y, rows, cols, Opt(bits, alpha, DType::kF32, true), own.col_max.data(),
                           "near the clamp, static, bits=" + std::to_string(bits));
      // A column of tiny values (factor V below 2^-60) makes the fast path divide instead of
      // multiplying by reciprocals: the same near-ties through that loop.
      for (int64_t i = 0; i < rows; ++i) x[i * cols + cols - 1] = 1e-30f * static_cast<float>(i + 1);
      ExpectFastMatchesRef(x, rows, cols, Opt(bits, alpha), nullptr,
                           "near ties, dividing, bits=" + std::to_string(bits));
    }
  }
}

// alpha = 1 is per-token quantization: same codes as an independent per-token quantizer, and the
// two kernel counts agree.
TEST(CrossQuantTest, AlphaOneIsPerToken) {
  const int64_t rows = 50, cols = 70;
  const auto x = ActivationLike(rows, cols, 5);
  for (int bits = 2; bits <= 8; ++bits) {
    for (DType md : {DType::kF32, DType::kF16}) {
      const CrossQuantOptions o = Opt(bits, 1.0, md);
      Block b;
      ASSERT_TRUE(crossquant_internal::EncodeFast(x.data(), rows, cols, o, nullptr, &b));
      std::vector<uint8_t> per_token;
      int64_t kernel = 0;
      crossquant_internal::EncodePerTokenRef(x.data(), rows, cols, o, &per_token, &kernel);
      EXPECT_EQ(b.codes, per_token) << bits;
      EXPECT_EQ(b.counts.kernel, kernel);
      EXPECT_EQ(b.counts.per_token_kernel, kernel);
      EXPECT_GT(kernel, 0);
    }
  }
}

// With t and c from the data no code leaves the range (no clamp), even with F16 maxima; every
// decoded value is within half a step of the input.
TEST(CrossQuantTest, DynamicColumnsNeverClamp) {
  const int64_t rows = 64, cols = 96;
  for (uint64_t seed : {1, 2, 3}) {
    const auto x = ActivationLike(rows, cols, seed);
    for (int bits = 2; bits <= 8; ++bits) {
      for (const char* md : {"f32", "f16"}) {
        for (const char* alpha : {"0", "0.15", "0.6", "1"}) {
          Encoding e = MustEncode(x, rows, cols,
                                  {{"bits", std::to_string(bits)}, {"alpha", alpha}, {"scale_dtype", md}});
          EXPECT_EQ(e.stats.at("clamp_count"), 0) << bits << " " << md << " " << alpha;
          const auto q = SignedCodes(e.Find("codes")->data.data(), rows, cols, bits);
          const int qmax = (1 << (bits - 1)) - 1;
          for (int v : q) ASSERT_LE(std::abs(v), qmax);
          auto back = DecodeRows(e);
          ASSERT_TRUE(back.ok());
          const auto t = Floats(*e.Find("row_max"));
          const auto c = Floats(*e.Find("col_max"));
          const double a = std::stod(alpha);
          for (int64_t i = 0; i < rows; ++i) {
            for (int64_t j = 0; j < cols; ++j) {
              const double step = std::pow(t[i], a) * std::pow(c[j], 1 - a) / qmax;
              ASSERT_LE(std::fabs(x[i * cols + j] - (*back)[i * cols + j]), 0.5 * step * (1 + 1e-6) + 1e-30);
            }
          }
        }
      }
    }
  }
}

// Static column maxima smaller than the data's: the excess is clamped and counted; a zero static
// maximum sends its column to code 0 (in the kernel).
TEST(CrossQuantTest, StaticColumnsClampAndAreCounted) {
  // t = (2, 1). Static c = (1, 1, 0). x00 = 2: step 2^0.15 * 1 / 127, quotient 127 * 2^0.85 = 229
  // -> clamped to 127. x10 = 1: step 1/127, quotient 127. Column 2: step 0 -> code 0.
  const std::vector<float> x = {2, 1, 0.5f, 1, 0.5f, 0.25f};
  const std::vector<float> static_c = {1, 1, 0};
  Calibration cal;
  cal.column_max = static_c;
  Encoding e = MustEncode(x, 2, 3, {{"static_columns", "true"}}, &cal);
  EXPECT_EQ(SignedCodes(e.Find("codes")->data.data(), 2, 3, 8)[0], 127);
  EXPECT_EQ(SignedCodes(e.Find("codes")->data.data(), 2, 3, 8)[3], 127);
  EXPECT_EQ(e.stats.at("clamp_count"), 1);
  EXPECT_EQ(e.stats.at("kernel_count"), 2);
  EXPECT_EQ(Floats(*e.Find("col_max")), static_c);  // c travels in the encoding
  EXPECT_EQ(e.params.GetString("static_columns", ""), "true");
  auto back = DecodeRows(e);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[2], 0.0f);
  EXPECT_EQ((*back)[5], 0.0f);

  // Random data, calibration at half the true maxima: clamps happen and equal a direct count.
  const int64_t rows = 40, cols = 60;
  const auto y = ActivationLike(rows, cols, 9);
  Block own;
  ASSERT_TRUE(crossquant_internal::EncodeRef(y.data(), rows, cols, Opt(4, 0.15), nullptr, &own));
  std::vector<float> half_c;
  for (float c : own.col_max) half_c.push_back(0.5f * c);
  Calibration half;
  half.column_max = half_c;
  Encoding s = MustEncode(y, rows, cols, {{"bits", "4"}, {"static_columns", "true"}}, &half);
  auto back_s = DecodeRows(s);
  ASSERT_TRUE(back_s.ok());
  const auto q = SignedCodes(s.Find("codes")->data.data(), rows, cols, 4);
  const auto t = Floats(*s.Find("row_max"));
  int64_t clamps = 0;
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const double step = std::pow(t[i], 0.15) * std::pow(half.column_max[j], 0.85) / 7;
      if (step > 0 && std::fabs(y[i * cols + j]) / step > 7.5) {
        ++clamps;
        ASSERT_EQ(std::abs(q[i * cols + j]), 7);
      }
    }
  }
  EXPECT_GT(clamps, 0);
  EXPECT_EQ(s.stats.at("clamp_count"), clamps);

  // Static maxima equal to the block's own give the dynamic encoding's codes.
  Calibration same;
  same.column_max = own.col_max;
  Encoding st = MustEncode(y, rows, cols, {{"bits", "4"}, {"static_columns", "true"}}, &same);
  Encoding dyn = MustEncode(y, rows, cols, {{"bits", "4"}});
  EXPECT_EQ(st.sections, dyn.sections);
  EXPECT_EQ(st.stats, dyn.stats);
}

// All-zero rows and columns (t_i = 0, c_j = 0) at every alpha, including the pow(0, 0) = 1
// endpoints: codes 0, decoded 0, no NaN.
TEST(CrossQuantTest, ZeroRowsAndColumns) {
  const int64_t rows = 6, cols = 5;
  std::vector<float> x = testing::Gaussian(rows * cols, 4);
  for (int64_t j = 0; j < cols; ++j) x[2 * cols + j] = 0;  // row 2
  for (int64_t i = 0; i < rows; ++i) x[i * cols + 3] = 0;  // column 3
  for (const char* alpha : {"0", "0.15", "1"}) {
    for (const char* md : {"f32", "f16"}) {
      Encoding e = MustEncode(x, rows, cols, {{"alpha", alpha}, {"bits", "3"}, {"scale_dtype", md}});
      auto back = DecodeRows(e);
      ASSERT_TRUE(back.ok());
      const auto q = SignedCodes(e.Find("codes")->data.data(), rows, cols, 3);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          ASSERT_FALSE(std::isnan((*back)[i * cols + j]));
          if (i == 2 || j == 3) {
            EXPECT_EQ(q[i * cols + j], 0);
            EXPECT_EQ((*back)[i * cols + j], 0.0f);
          }
        }
      }
      EXPECT_EQ(e.stats.at("nonzero_count"), (rows - 1) * (cols - 1));
    }
  }
  // A block of zeros only.
  Encoding z = MustEncode(std::vector<float>(12, 0.0f), 3, 4, {});
  auto back = DecodeRows(z);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, std::vector<float>(12, 0.0f));
  EXPECT_EQ(z.stats.at("nonzero_count"), 0);
  // Subnormal inputs whose steps underflow to 0 still give code 0, not NaN.
  const float tiny = std::numeric_limits<float>::denorm_min();
  Encoding sub = MustEncode({tiny, -tiny}, 1, 2, {});
  auto back_sub = DecodeRows(sub);
  ASSERT_TRUE(back_sub.ok());
  EXPECT_FALSE(std::isnan((*back_sub)[0]));
}

TEST(CrossQuantTest, RejectsNonFiniteInputs) {
  std::vector<float> x = {1, 2, 3, 4};
  x[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(Encode(x, 2, 2, {}),
              StatusIs(StatusCode::kInvalidArgument, "non-finite value nan at row 1, column 0"));
  x[2] = -std::numeric_limits<float>::infinity();
  EXPECT_THAT(Encode(x, 2, 2, {}), StatusIs(StatusCode::kInvalidArgument, "non-finite value -inf"));
  const std::vector<float> bad_c = {1, std::numeric_limits<float>::infinity()};
  Calibration cal;
  cal.column_max = bad_c;
  x[2] = 3;
  EXPECT_THAT(Encode(x, 2, 2, {{"static_columns", "true"}}, &cal),
              StatusIs(StatusCode::kInvalidArgument, "column_max values must be finite"));
}

// The kernel counts equal a direct count over the codes: CrossQuant's, and per-token's from an
// independent per-token encoding.
TEST(CrossQuantTest, KernelCountsMatchDirectCount) {
  const int64_t rows = 80, cols = 120;
  const auto x = ActivationLike(rows, cols, 12);
  for (int bits : {4, 8}) {
    Encoding e = MustEncode(x, rows, cols, {{"bits", std::to_string(bits)}});
    const auto q = SignedCodes(e.Find("codes")->data.data(), rows, cols, bits);
    std::vector<uint8_t> pt_codes;
    int64_t unused = 0;
    crossquant_internal::EncodePerTokenRef(x.data(), rows, cols, Opt(bits, 0.15), &pt_codes, &unused);
    const auto pt = SignedCodes(pt_codes.data(), rows, cols, bits);
    int64_t nonzero = 0, kernel = 0, pt_kernel = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      if (x[k] == 0) continue;
      ++nonzero;
      kernel += q[k] == 0;
      pt_kernel += pt[k] == 0;
    }
    EXPECT_EQ(e.stats.at("nonzero_count"), nonzero);
    EXPECT_EQ(e.stats.at("kernel_count"), kernel);
    EXPECT_EQ(e.stats.at("per_token_kernel_count"), pt_kernel);
    // The paper's claim on activation-like data (outlier channels): a much smaller kernel (here
    // 49% of per-token's at 4 bits, 11% at 8 bits).
    EXPECT_LT(kernel * (bits == 8 ? 5 : 2), pt_kernel) << bits;
  }
}

TEST(CrossQuantTest, ParametersResolveAndValidate) {
  const Method* m = FindMethod("crossquant");
  ASSERT_NE(m, nullptr);
  auto r = m->Resolve({}, 16);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ToString(), "alpha=0.15,bits=8,scale_dtype=f32,static_columns=false");
  EXPECT_EQ(*m->Resolve(*r, 16), *r);
  auto r2 = m->Resolve({{"alpha", "0.55"}, {"bits", "4"}, {"scale_dtype", "f16"}}, 16);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*m->Resolve(*r2, 16), *r2);
  std::vector<std::string> names;
  for (const ParamSpec& s : m->param_specs()) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bits", "alpha", "scale_dtype", "static_columns"}));

  std::vector<float> w(16, 1.0f);
  EXPECT_THAT(Encode(w, 2, 8, {{"bits", "1"}}),
              StatusIs(StatusCode::kInvalidArgument, "'bits' = 1 is out of range [2, 8]"));
  EXPECT_THAT(Encode(w, 2, 8, {{"bits", "9"}}), StatusIs(StatusCode::kInvalidArgument, "bits"));
  EXPECT_THAT(Encode(w, 2, 8, {{"alpha", "1.5"}}), StatusIs(StatusCode::kInvalidArgument, "alpha"));
  EXPECT_THAT(Encode(w, 2, 8, {{"alpha", "-0.1"}}), StatusIs(StatusCode::kInvalidArgument, "alpha"));
  EXPECT_THAT(Encode(w, 2, 8, {{"alpha", "nan"}}), StatusIs(StatusCode::kInvalidArgument, "alpha"));
  EXPECT_THAT(Encode(w, 2, 8, {{"scale_dtype", "bf16"}}),
              StatusIs(StatusCode::kInvalidArgument, "scale_dtype"));
  EXPECT_THAT(Encode(w, 2, 8, {{"group_size", "4"}}),
              StatusIs(StatusCode::kInvalidArgument, "unknown parameter 'group_size'"));
  EXPECT_THAT(Encode(w, 2, 8, {{"static_columns", "true"}}),
              StatusIs(StatusCode::kInvalidArgument, "static_columns=true needs calibration column maxima"));
  const std::vector<float> ones(8, 1.0f);
  Calibration cal;
  cal.column_max = ones;
  EXPECT_THAT(Encode(w, 2, 8, {}, &cal), StatusIs(StatusCode::kInvalidArgument, "static_columns=false"));
}

TEST(CrossQuantTest, F16MaximaOverflowIsAnError) {
  const std::vector<float> w = {70000.0f, 1.0f};
  EXPECT_THAT(Encode(w, 1, 2, {{"scale_dtype", "f16"}}),
              StatusIs(StatusCode::kInvalidArgument, "scale_dtype=f32"));
  EXPECT_TRUE(Encode(w, 1, 2, {}).ok());
}

// At 2 bits (qmax = 1) maxima at FLT_MAX can round S and V up so that their product overflows:
// the encoder refuses, and so does the decoder for such maxima in an untrusted encoding.
TEST(CrossQuantTest, InfiniteStepIsAnError) {
  const float big = std::numeric_limits<float>::max();
  const std::vector<float> x = {big, -big};
  Encoding good = MustEncode({1.0f, -0.5f}, 1, 2, {{"bits", "2"}, {"alpha", "0.1"}});
  ASSERT_TRUE(DecodeRows(good).ok());
  good.sections[1].mutable_view<float>()[0] = big;
  good.sections[2].mutable_view<float>()[1] = big;
  // alpha = 0.1: f32(FLT_MAX^0.1) * f32(FLT_MAX^0.9) rounds beyond FLT_MAX.
  const CrossQuantOptions o = Opt(2, 0.1);
  ASSERT_FALSE(
      std::isfinite(crossquant_internal::RowFactor(big, o) * crossquant_internal::ColFactor(big, o)));
  EXPECT_THAT(Encode(x, 1, 2, {{"bits", "2"}, {"alpha", "0.1"}}),
              StatusIs(StatusCode::kInvalidArgument, "infinite step"));
  EXPECT_THAT(DecodeRows(good), StatusIs(StatusCode::kInvalidArgument, "infinite step"));
  // One more bit halves S: fine.
  EXPECT_TRUE(Encode(x, 1, 2, {{"bits", "3"}, {"alpha", "0.1"}}).ok());
}

// Storage: N-bit codes, one maximum per row and one per column of the slice, 4 parameters.
TEST(CrossQuantTest, BitsPerWeight) {
  const int64_t rows = 32, cols = 48;
  const auto x = testing::Gaussian(rows * cols, 2);
  for (int bits : {3, 8}) {
    for (int max_bits : {16, 32}) {
      Encoding e = MustEncode(
          x, rows, cols, {{"bits", std::to_string(bits)}, {"scale_dtype", max_bits == 16 ? "f16" : "f32"}});
      const double expect =
          (rows * 8.0 * PackedBytes(cols, bits) + max_bits * (rows + cols) + 4 * 32.0) / (rows * cols);
      EXPECT_NEAR(e.BitsPerWeight(), expect, 1e-12);
    }
  }
}

// Row chunks: each slice carries the column maxima of its own rows; the slices flatten and split
// back; a single slice is the whole-matrix (paper) encoding.
TEST(CrossQuantTest, RowChunksGetPerChunkColumnMaxima) {
  const int64_t rows = 10, cols = 6;
  const auto x = ActivationLike(rows, cols, 21);
  const std::vector<int64_t> shape = {rows, cols};
  std::vector<Encoding> slices;
  for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 4}, {4, 10}}) {
    Chunk b{.tensor_name = "x",
            .shape = shape,
            .row_begin = r0,
            .rows = r1 - r0,
            .cols = cols,
            .data = std::span<const float>(x.data() + r0 * cols, (r1 - r0) * cols)};
    auto e = EncodeRows(b, "crossquant", {{"bits", "4"}});
    ASSERT_TRUE(e.ok());
    std::vector<float> expect_c(cols, 0.0f);
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t j = 0; j < cols; ++j) expect_c[j] = std::max(expect_c[j], std::fabs(x[i * cols + j]));
    }
    EXPECT_EQ(Floats(*e->Find("col_max")), expect_c);
    slices.push_back(*e);
  }
  auto flat = FlattenSlices(slices);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(flat->sections[2].shape, (std::vector<int64_t>{2, cols}));  // one c per slice
  EXPECT_EQ(flat->stats.at("nonzero_count"),
            slices[0].stats.at("nonzero_count") + slices[1].stats.at("nonzero_count"));
  auto split = SplitSlices(*flat);
  ASSERT_TRUE(split.ok());
  for (size_t k = 0; k < slices.size(); ++k) {
    EXPECT_EQ((*split)[k].sections, slices[k].sections);
    EXPECT_TRUE(DecodeRows((*split)[k]).ok());
  }
  Encoding whole = MustEncode(x, rows, cols, {{"bits", "4"}});
  Block ref;
  ASSERT_TRUE(crossquant_internal::EncodeRef(x.data(), rows, cols, Opt(4, 0.15), nullptr, &ref));
  EXPECT_EQ(whole.Find("codes")->data, ref.codes);
  EXPECT_EQ(Floats(*whole.Find("col_max")), ref.col_max);
}

TEST(CrossQuantTest, SameBytesWhateverTheThreadCount) {
#if QUANTD_HAVE_TBB
  const int64_t rows = 3000, cols = 100;
  const auto x = ActivationLike(rows, cols, 8);
  Encoding one, many;
  tbb::task_arena(1).execute([&] { one = MustEncode(x, rows, cols, {{"bits", "5"}}); });
  tbb::task_arena(4).execute([&] { many = MustEncode(x, rows, cols, {{"bits", "5"}}); });
  EXPECT_EQ(one, many);
  std::vector<float> d1, d4;
  tbb::task_arena(1).execute([&] { d1 = *DecodeRows(one); });
  tbb::task_arena(4).execute([&] { d4 = *DecodeRows(one); });
  ExpectSameBits(d1, d4, "decode");
#else
  GTEST_SKIP() << "built without TBB";
#endif
}

TEST(CrossQuantTest, DecodeRejectsMalformedEncodings) {
  const auto x = testing::Gaussian(64, 1);
  const Encoding good = MustEncode(x, 4, 16, {{"bits", "4"}});
  ASSERT_TRUE(DecodeRows(good).ok());
  {
    Encoding e = good;
    e.sections[0].data.pop_back();
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "section 'codes'"));
  }
  {
    Encoding e = good;
    e.sections[0].data[3] = 0x10;  // low nibble 0: the unused code -8
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "holds the value 0"));
  }
  {
    Encoding e = good;
    e.sections[1].mutable_view<float>()[2] = -1.0f;
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kDataLoss, "'row_max' row 2 is -1"));
  }
  {
    Encoding e = good;
    e.sections[2].mutable_view<float>()[5] = std::numeric_limits<float>::infinity();
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kDataLoss, "'col_max' column 5 is inf"));
  }
  {
    Encoding e = good;
    e.sections[2].shape = {16};
    EXPECT_THAT(DecodeRows(e),
                StatusIs(StatusCode::kInvalidArgument, "section 'col_max' is F32[16], expected F32[1, 16]"));
  }
  {
    Encoding e = good;
    e.sections[1].dtype = DType::kF16;
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "section 'row_max'"));
  }
  {
    Encoding e = good;
    e.sections.erase(e.sections.begin() + 1);
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "no section 'row_max'"));
  }
  {
    Encoding e = good;
    e.params.Set("alpha", "2");
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "alpha"));
  }
  {
    Encoding e = good;
    e.params.Erase("static_columns");
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "incomplete"));
  }
}

// Real trained weights (stories260K, rows = output channels): the fast path equals the
// reference, no clamps, and the counts are consistent.
TEST(CrossQuantTest, RealWeightsMatchReference) {
  std::string error;
  const auto w = testing::ReadLlama2c(testing::RealDataDir() + "/stories260K/stories260K.bin", &error);
  ASSERT_TRUE(error.empty()) << error << " (set QUANTD_DATA_DIR to the shared data folder)";
  ASSERT_EQ(w.tensors.size(), 1u + 9 * 5 + 1);  // embedding, 9 per layer, final norm
  for (const auto& m : w.tensors) {
    if (m.is_norm()) continue;
    for (int bits : {4, 8}) {
      for (DType md : {DType::kF32, DType::kF16}) {
        const CrossQuantOptions o = Opt(bits, 0.15, md);
        ExpectFastMatchesRef(m.data, m.rows, m.cols, o, nullptr, m.name + " bits=" + std::to_string(bits));
        Block b;
        ASSERT_TRUE(crossquant_internal::EncodeFast(m.data.data(), m.rows, m.cols, o, nullptr, &b));
        EXPECT_EQ(b.counts.clamp, 0) << m.name;
        EXPECT_EQ(b.counts.nonzero, m.rows * m.cols) << m.name;  // trained weights have no exact zeros
        EXPECT_LE(b.counts.kernel, b.counts.nonzero);
      }
    }
  }
}

// CrossQuant checks the values while it takes the maxima (ChecksFiniteInput): every row kernel
// variant gives an infinite row maximum for a row holding Inf or NaN, and the method refuses the
// first non-finite value with ValidateChunk's message, dynamic or static columns, whatever
// other rows hold (a later non-finite value, a maximum that overflows F16).
TEST(CrossQuantTest, NonFiniteInputFoundWhileTakingMaximaIsReportedLikeValidateChunk) {
  ASSERT_TRUE(CrossQuantMethod().ChecksFiniteInput());
  const float inf = std::numeric_limits<float>::infinity();
  for (Isa isa : Isas()) {
    for (int64_t n : {5, 16, 37}) {
      for (float bad : {std::nanf(""), inf, -inf}) {
        std::vector<float> row(static_cast<size_t>(n), 0.5f);
        row[n - 2] = bad;
        EXPECT_EQ(crossquant_internal::RowAbsMax(isa, row.data(), n, nullptr), inf)
            << IsaName(isa) << " " << n;
      }
    }
  }
  const int64_t rows = 64, cols = 40;
  const std::vector<int64_t> shape = {rows, cols};
  const std::vector<std::vector<std::pair<int64_t, float>>> cases = {
      {{0, std::nanf("")}},
      {{50 * cols + 39, -inf}, {60 * cols + 1, std::nanf("")}},
      {{3 * cols + 7, 1e6f}, {40 * cols, inf}},  // an F16 maximum that overflows before it (scale f16)
  };
  const std::vector<float> c_static(static_cast<size_t>(cols), 1.0f);
  for (const auto& bad : cases) {
    auto w = testing::Gaussian(rows * cols, 9, 0.1f);
    for (auto [i, v] : bad) w[i] = v;
    const Chunk plain{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w};
    const Status expected = ValidateChunk(plain);
    ASSERT_FALSE(expected.ok());
    for (bool static_columns : {false, true}) {
      Calibration cal;
      cal.column_max = c_static;
      Chunk chunk = plain;
      if (static_columns) chunk.calibration = &cal;
      for (const char* sd : {"f16", "f32"}) {
        auto e = EncodeRows(chunk, "crossquant",
                            {{"static_columns", static_columns ? "true" : "false"}, {"scale_dtype", sd}});
        ASSERT_FALSE(e.ok());
        EXPECT_EQ(e.status().ToString(), expected.ToString()) << "static " << static_columns << " " << sd;
      }
    }
  }
}

// Errors found before the maxima pass still come after a non-finite value, as they did when
// every input was scanned first: static maxima that overflow F16 scales, static_columns without
// maxima, a bad parameter.
TEST(CrossQuantTest, NonFiniteValueComesBeforeOtherErrors) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  x[4] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> huge_c = {70000, 1, 1};
  Calibration cal;
  cal.column_max = huge_c;
  const std::string nan_at = "non-finite value nan at row 1, column 1";
  EXPECT_THAT(Encode(x, 2, 3, {{"static_columns", "true"}, {"scale_dtype", "f16"}}, &cal),
              StatusIs(StatusCode::kInvalidArgument, nan_at));
  EXPECT_THAT(Encode(x, 2, 3, {{"static_columns", "true"}}), StatusIs(StatusCode::kInvalidArgument, nan_at));
  EXPECT_THAT(Encode(x, 2, 3, {{"bits", "1"}}), StatusIs(StatusCode::kInvalidArgument, nan_at));
  x[4] = 5;
  EXPECT_THAT(Encode(x, 2, 3, {{"static_columns", "true"}, {"scale_dtype", "f16"}}, &cal),
              StatusIs(StatusCode::kInvalidArgument, "f16"));
}
}  // namespace
}  // namespace quantd
