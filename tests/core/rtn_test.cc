#include "core/rtn/rtn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/common/bitpack.h"
#include "quantd/core/quantize.h"
#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

Encoding MustEncode(const std::vector<float>& w, int64_t rows, int64_t cols, const Params& p) {
  return testing::MustEncodeMatrix("rtn", w, rows, cols, p);
}

// A hand-computed group: m = -3 (largest magnitude), 4 bits -> d = -3 / -8 = 0.375.
TEST(RtnTest, KnownValues) {
  const std::vector<float> w = {1.0f, -3.0f, 0.2f, 3.0f};
  Encoding e = MustEncode(w, 1, 4, {{"bits", "4"}, {"group_size", "4"}, {"scale_dtype", "f32"}});
  float d;
  memcpy(&d, e.Find("scales")->data.data(), 4);
  EXPECT_EQ(d, 0.375f);
  // q = round(x / d): 1/0.375 = 2.67 -> 3; -3/0.375 = -8; 0.2/0.375 = 0.53 -> 1; 3/0.375 = 8 -> clamp 7.
  std::vector<uint32_t> codes(4);
  UnpackBits(e.Find("codes")->data, 4, codes);
  EXPECT_EQ(codes, (std::vector<uint32_t>{3 + 8, 0, 1 + 8, 7 + 8}));
  auto back = DecodeRows(e);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<float>{1.125f, -3.0f, 0.375f, 2.625f}));
}

// A stored f32 scale near FLT_MAX is finite, but times a code it is not: DATA_LOSS naming where.
TEST(RtnTest, ScaleThatOverflowsOnDecodeIsDataLoss) {
  const std::vector<float> w = {1, -2, 3, 4, 0.5f, 0.25f, -1, 2};
  Encoding e = MustEncode(w, 2, 4, {{"bits", "4"}, {"group_size", "4"}, {"scale_dtype", "f32"}});
  Section* scales = e.FindMutable("scales");
  ASSERT_NE(scales, nullptr);
  const float huge = std::numeric_limits<float>::max();
  std::memcpy(scales->data.data() + 4, &huge, 4);  // the second row's scale
  EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kDataLoss, "non-finite weight at row 1"));
}

TEST(RtnTest, TiesRoundToEven) {
  // m = -8 -> d = 1 at 4 bits; 2.5 -> 2, 3.5 -> 4, -0.5 -> -0.
  const std::vector<float> w = {-8.0f, 2.5f, 3.5f, -0.5f};
  Encoding e = MustEncode(w, 1, 4, {{"bits", "4"}, {"group_size", "4"}});
  auto back = DecodeRows(e);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<float>{-8.0f, 2.0f, 4.0f, 0.0f}));
}

TEST(RtnTest, ZeroGroupsDecodeToZero) {
  std::vector<float> w(64, 0.0f);
  w[40] = 1.0f;  // second group non-zero
  Encoding e = MustEncode(w, 1, 64, {{"bits", "3"}, {"group_size", "32"}});
  auto back = DecodeRows(e);
  ASSERT_TRUE(back.ok());
  for (int i = 0; i < 32; ++i) EXPECT_EQ((*back)[i], 0.0f);
  EXPECT_EQ((*back)[40], 1.0f);
}

struct Shape {
  int64_t rows, cols, group;
};

// The fast kernels, in every instruction-set variant this CPU runs, equal the reference bit for
// bit: every width, both scale types, the group lengths compiled with their length known (32, 64,
// 128, 256) and others, rows with tail groups.
TEST(RtnTest, FastMatchesReferenceExactly) {
  const Shape shapes[] = {{3, 1, 1},    {4, 7, 3},    {5, 128, 128}, {3, 172, 128}, {2, 300, 64},
                          {2, 97, 200}, {3, 100, 32}, {2, 520, 256}, {2, 64, 32},   {2, 33, 32}};
  uint64_t seed = 10;
  for (const Shape& s : shapes) {
    auto w = testing::StudentT(static_cast<size_t>(s.rows * s.cols), seed++, 4.0, 0.02f);
    // Ties for the largest magnitude (the first one wins) and zeros of both signs.
    w[0] = -0.0f;
    if (s.cols > 5) {
      w[3] = 0.5f;
      w[5] = -0.5f;
    }
    if (s.rows > 1 && s.cols > 2) {  // the same tie the other way round
      w[s.cols] = -0.75f;
      w[s.cols + 2] = 0.75f;
    }
    for (int bits = 2; bits <= 8; ++bits) {
      for (DType sd : {DType::kF16, DType::kF32}) {
        RtnOptions o{.bits = bits, .group_size = s.group, .scale_dtype = sd};
        const size_t cb = PackedBytes(s.cols, bits);
        const size_t sb = o.groups_per_row(s.cols) * DTypeSize(sd);
        for (int64_t r = 0; r < s.rows; ++r) {
          std::vector<uint8_t> c1(cb, 0xAA), s1(sb);
          ASSERT_TRUE(rtn_internal::EncodeRowRef(w.data() + r * s.cols, s.cols, o, c1.data(), s1.data()));
          std::vector<float> d1(s.cols);
          rtn_internal::DecodeRowRef(c1.data(), s1.data(), s.cols, o, d1.data());
          for (Isa isa : AvailableIsas()) {
            SCOPED_TRACE(std::string(IsaName(isa)) + " bits=" + std::to_string(bits) +
                         " cols=" + std::to_string(s.cols) + " group=" + std::to_string(s.group));
            std::vector<uint8_t> c2(cb, 0x55), s2(sb);
            ASSERT_EQ(rtn_internal::kRowOk,
                      rtn_internal::EncodeRow(isa, w.data() + r * s.cols, s.cols, o, c2.data(), s2.data()));
            ASSERT_EQ(c1, c2);
            ASSERT_EQ(s1, s2);
            std::vector<float> d2(s.cols);
            rtn_internal::DecodeRow(isa, c1.data(), s1.data(), s.cols, o, d2.data());
            ASSERT_EQ(0, memcmp(d1.data(), d2.data(), d1.size() * 4));
          }
        }
      }
    }
  }
}

// An all-zero group stores the scale -0 (0x8000 in F16) whatever the signs of its zeros: the
// reference starts from m = +0 and replaces it only by a strictly larger magnitude.
TEST(RtnTest, AllZeroGroupsStoreTheSameSignedZeroScaleInEveryVariant) {
  for (int64_t group : {32, 7}) {
    std::vector<float> w(static_cast<size_t>(group), 0.0f);
    w[0] = -0.0f;
    w[group - 1] = -0.0f;
    RtnOptions o{.bits = 4, .group_size = group, .scale_dtype = DType::kF16};
    std::vector<uint8_t> c1(PackedBytes(group, 4)), s1(2);
    ASSERT_TRUE(rtn_internal::EncodeRowRef(w.data(), group, o, c1.data(), s1.data()));
    EXPECT_EQ(s1[0], 0x00);
    EXPECT_EQ(s1[1], 0x80);
    for (Isa isa : AvailableIsas()) {
      std::vector<uint8_t> c2(c1.size()), s2(2);
      ASSERT_EQ(rtn_internal::kRowOk, rtn_internal::EncodeRow(isa, w.data(), group, o, c2.data(), s2.data()));
      EXPECT_EQ(c1, c2) << IsaName(isa);
      EXPECT_EQ(s1, s2) << IsaName(isa) << " group " << group;
    }
  }
}

// Scales at the edges of F16: subnormal, rounding to the largest finite value, rounding up to
// infinity (the row is then refused), in every variant as in the reference.
TEST(RtnTest, F16ScaleEdgesMatchTheReferenceInEveryVariant) {
  const float edges[] = {1e-9f, 3e-8f, 6.1e-5f * 8, 65504.0f * 8, 65519.0f * 8, 65520.0f * 8, 1e6f};
  for (float top : edges) {
    std::vector<float> w(32);
    for (int i = 0; i < 32; ++i) w[i] = top * static_cast<float>(i - 13) / 18.0f;  // w[31] = top
    RtnOptions o{.bits = 4, .group_size = 32, .scale_dtype = DType::kF16};
    std::vector<uint8_t> c1(16), s1(2);
    const bool ok1 = rtn_internal::EncodeRowRef(w.data(), 32, o, c1.data(), s1.data());
    for (Isa isa : AvailableIsas()) {
      std::vector<uint8_t> c2(16), s2(2);
      EXPECT_EQ(ok1 ? rtn_internal::kRowOk : rtn_internal::kRowScaleNotFinite,
                rtn_internal::EncodeRow(isa, w.data(), 32, o, c2.data(), s2.data()))
          << top;
      EXPECT_EQ(s1, s2) << IsaName(isa) << " " << top;
      if (ok1) {
        EXPECT_EQ(c1, c2) << IsaName(isa) << " " << top;
      }
    }
  }
}

// Every decoded value is within half a step of the original, except values clipped at the top
// level, which are within one step (the step is the group's scale |d|).
TEST(RtnTest, ErrorWithinRoundingBound) {
  const int64_t rows = 16, cols = 200, group = 64;
  auto w = testing::Gaussian(rows * cols, 99, 0.05f);
  for (int bits = 2; bits <= 8; ++bits) {
    Encoding e = MustEncode(w, rows, cols,
                            {{"bits", std::to_string(bits)}, {"group_size", "64"}, {"scale_dtype", "f32"}});
    auto back = DecodeRows(e);
    ASSERT_TRUE(back.ok());
    const float* scales = reinterpret_cast<const float*>(e.Find("scales")->data.data());
    const int64_t groups = (cols + group - 1) / group;
    const int half = 1 << (bits - 1);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float d = std::fabs(scales[r * groups + c / group]);
        const float x = w[r * cols + c];
        const float err = std::fabs(x - (*back)[r * cols + c]);
        const bool clipped = std::fabs(x) > (half - 0.5f) * d;
        ASSERT_LE(err, (clipped ? 1.0f : 0.5f) * d * (1 + 1e-5f)) << "bits=" << bits;
      }
    }
  }
}

TEST(RtnTest, QualityOnGaussianRows) {
  const int64_t rows = 64, cols = 512;
  auto w = testing::Gaussian(rows * cols, 5, 0.02f);
  double prev = 0;
  for (int bits = 2; bits <= 8; ++bits) {
    Encoding e = MustEncode(w, rows, cols, {{"bits", std::to_string(bits)}});
    auto back = DecodeRows(e);
    ASSERT_TRUE(back.ok());
    const double sqnr = testing::SqnrDb(w, *back);
    // Each extra bit gains close to 6 dB; 4 bits with groups of 128 lands near 19 dB.
    EXPECT_GT(sqnr, prev + 4.5) << bits;
    prev = sqnr;
    // Bits per weight: codes + one f16 scale per 128 weights + 3 parameters once.
    const double expect_bpw = bits + 16.0 / 128 + 3.0 * 32 / (rows * cols);
    EXPECT_NEAR(e.BitsPerWeight(), expect_bpw, 1e-9);
  }
  EXPECT_GT(prev, 40.0);
}

TEST(RtnTest, RejectsBadParameters) {
  std::vector<float> w(16, 1.0f);
  const std::vector<int64_t> shape = {1, 16};
  Chunk b{.tensor_name = "layer.w", .shape = shape, .rows = 1, .cols = 16, .data = w};
  EXPECT_THAT(EncodeRows(b, "rtn", {{"bits", "1"}}),
              StatusIs(StatusCode::kInvalidArgument, "tensor 'layer.w'"));
  EXPECT_THAT(EncodeRows(b, "rtn", {{"bits", "9"}}),
              StatusIs(StatusCode::kInvalidArgument, "'bits' = 9 is out of range [2, 8]"));
  EXPECT_THAT(EncodeRows(b, "rtn", {{"group_size", "0"}}),
              StatusIs(StatusCode::kInvalidArgument, "group_size"));
  EXPECT_THAT(EncodeRows(b, "rtn", {{"scale_dtype", "bf16"}}),
              StatusIs(StatusCode::kInvalidArgument, "not one of f16, f32"));
  EXPECT_THAT(EncodeRows(b, "rtn", {{"bitz", "4"}}),
              StatusIs(StatusCode::kInvalidArgument, "unknown parameter 'bitz'"));
  EXPECT_THAT(EncodeRows(b, "nope", {}),
              StatusIs(StatusCode::kInvalidArgument, "unknown method 'nope' (known: rtn"));
}

TEST(RtnTest, F16ScaleOverflowIsAnError) {
  std::vector<float> w = {1e7f, 1.0f};
  const std::vector<int64_t> shape = {1, 2};
  Chunk b{.tensor_name = "big", .shape = shape, .rows = 1, .cols = 2, .data = w};
  EXPECT_THAT(EncodeRows(b, "rtn", {{"bits", "4"}}),
              StatusIs(StatusCode::kInvalidArgument, "scale_dtype=f32"));
  EXPECT_TRUE(EncodeRows(b, "rtn", {{"bits", "4"}, {"scale_dtype", "f32"}}).ok());
}

// RTN checks the values in its encoding pass instead of a separate scan (ChecksFiniteInput): it
// must refuse exactly what ValidateChunk refuses, with the same message, naming the first
// non-finite value even when other rows have later ones or overflowing scales.
TEST(RtnTest, NonFiniteInputFoundInTheEncodingPassIsReportedLikeValidateChunk) {
  ASSERT_TRUE(RtnMethod().ChecksFiniteInput());
  {  // errors found before the encoding pass still come after a non-finite value
    std::vector<float> w(8, 1.0f);
    w[5] = std::nanf("");
    const std::vector<int64_t> shape = {2, 4};
    const Chunk chunk{.tensor_name = "w", .shape = shape, .rows = 2, .cols = 4, .data = w};
    EXPECT_THAT(
        EncodeRows(chunk, "rtn", {{"bits", "9"}}),
        StatusIs(StatusCode::kInvalidArgument, "tensor 'w': non-finite value nan at row 1, column 1"));
  }
  const int64_t rows = 300, cols = 96;
  const std::vector<int64_t> shape = {rows, cols};
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    std::vector<std::pair<int64_t, float>> bad;  // flat index, value
  };
  const Case cases[] = {
      {{{0, std::nanf("")}}},
      {{{cols - 1, -inf}}},
      {{{250 * cols + 40, inf}, {290 * cols + 3, std::nanf("")}}},
      {{{10 * cols + 7, 1e9f}, {200 * cols + 95, -inf}}},  // an overflowing F16 scale before it
  };
  for (const Case& c : cases) {
    auto w = testing::Gaussian(rows * cols, 5, 0.1f);
    for (auto [i, v] : c.bad) w[i] = v;
    const Chunk chunk{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w};
    const Status expected = ValidateChunk(chunk);
    ASSERT_FALSE(expected.ok() && c.bad.size() == 1);
    for (const char* group : {"32", "128", "7"}) {
      auto e = EncodeRows(chunk, "rtn", {{"group_size", group}});
      if (expected.ok()) {
        EXPECT_THAT(e, StatusIs(StatusCode::kInvalidArgument, "too large for f16 scales"));
      } else {
        ASSERT_FALSE(e.ok());
        EXPECT_EQ(e.status().ToString(), expected.ToString()) << "group " << group;
      }
    }
  }
}

// RTN measures while it encodes (MeasuresWhileEncoding): its sums are ComputeBlockErrorSums over
// the decoded chunk, bit for bit, for every width, both scale types and rows with tail groups.
TEST(RtnTest, MeasuringWhileEncodingGivesTheDecodedChunksSumsExactly) {
  const Shape shapes[] = {{1, 1, 1}, {5, 7, 3}, {33, 300, 32}, {9, 4101, 128}, {4, 65, 64}};
  uint64_t seed = 40;
  for (const Shape& sh : shapes) {
    const std::vector<int64_t> shape = {sh.rows, sh.cols};
    auto w = testing::StudentT(static_cast<size_t>(sh.rows * sh.cols), seed++, 4.0, 0.02f);
    for (int bits : {2, 4, 8}) {
      for (const char* sd : {"f16", "f32"}) {
        const Params p{
            {"bits", std::to_string(bits)}, {"group_size", std::to_string(sh.group)}, {"scale_dtype", sd}};
        const Chunk chunk{.tensor_name = "w", .shape = shape, .rows = sh.rows, .cols = sh.cols, .data = w};
        ASSERT_TRUE(RtnMethod().MeasuresWhileEncoding(*RtnMethod().Resolve(p, sh.cols)));
        auto measured = EncodeAndMeasure(chunk, "rtn", p);
        ASSERT_TRUE(measured.ok()) << measured.status().ToString();
        auto decoded = DecodeRows(measured->encoding);
        ASSERT_TRUE(decoded.ok());
        const ErrorSums expect = ComputeBlockErrorSums(w, *decoded, sh.cols);
        SCOPED_TRACE("bits=" + std::to_string(bits) + " " + sd + " cols=" + std::to_string(sh.cols));
        EXPECT_EQ(measured->error.count, expect.count);
        EXPECT_EQ(measured->error.signal_energy, expect.signal_energy);
        EXPECT_EQ(measured->error.error_energy, expect.error_energy);
        EXPECT_EQ(measured->error.max_abs_error, expect.max_abs_error);
        if (sh.cols > 1) {
          EXPECT_GT(expect.error_energy, 0.0);  // one value with an F32 scale is exact
        }
      }
    }
  }
}

// Every variant flags a group holding Inf or NaN, wherever it sits and whatever the group length
// (the AVX-512 groups of 16k and the auto-vectorised ones).
TEST(RtnTest, EveryVariantFlagsNonFiniteInput) {
  const float inf = std::numeric_limits<float>::infinity();
  for (Isa isa : AvailableIsas()) {
    for (int64_t group : {32, 128, 7, 64}) {
      for (float bad : {std::nanf(""), inf, -inf}) {
        for (int64_t at : {int64_t{0}, int64_t{45}, int64_t{199}}) {
          std::vector<float> w(200, 0.25f);
          w[at] = bad;
          RtnOptions o{.bits = 4, .group_size = group, .scale_dtype = DType::kF16};
          std::vector<uint8_t> codes(PackedBytes(200, 4)), scales(o.groups_per_row(200) * 2);
          const int flags = rtn_internal::EncodeRow(isa, w.data(), 200, o, codes.data(), scales.data());
          EXPECT_TRUE(flags & rtn_internal::kRowInputNotFinite)
              << IsaName(isa) << " group " << group << " at " << at;
        }
      }
    }
  }
}
}  // namespace
}  // namespace quantd
