#include "quantd/core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace quantd {
namespace {

TEST(DTypeTest, NamesAndSizesRoundTrip) {
  for (DType d : {DType::kBool, DType::kU8, DType::kI8, DType::kU16, DType::kI16, DType::kF16, DType::kBF16,
                  DType::kU32, DType::kI32, DType::kF32, DType::kU64, DType::kI64, DType::kF64}) {
    auto parsed = ParseDType(DTypeName(d));
    ASSERT_TRUE(parsed.has_value()) << DTypeName(d);
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kI64), 8u);
  EXPECT_FALSE(ParseDType("F8_E4M3").has_value());
  EXPECT_FALSE(ParseDType("f32").has_value());  // safetensors names are upper case
}

// Known IEEE binary16 bit patterns.
TEST(DTypeTest, F16KnownBitPatterns) {
  struct Case {
    uint16_t bits;
    float value;
  };
  const Case cases[] = {
      {0x0000, 0.0f},
      {0x8000, -0.0f},
      {0x3C00, 1.0f},
      {0xC000, -2.0f},
      {0x3555, 0.333251953125f},
      {0x7BFF, 65504.0f},
      {0x0400, 6.103515625e-05f},         // smallest normal 2^-14
      {0x0001, 5.9604644775390625e-08f},  // smallest subnormal 2^-24
      {0x03FF, 6.097555160522461e-05f},   // largest subnormal
      {0x7C00, std::numeric_limits<float>::infinity()},
      {0xFC00, -std::numeric_limits<float>::infinity()},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(F16ToFloat(c.bits), c.value) << std::hex << c.bits;
    EXPECT_EQ(FloatToF16(c.value), c.bits) << c.value;
  }
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7E00)));
  EXPECT_EQ(FloatToF16(std::nanf("")) & 0x7C00, 0x7C00);
  EXPECT_NE(FloatToF16(std::nanf("")) & 0x03FF, 0);
}

TEST(DTypeTest, F16RoundsToNearestEven) {
  // 1 + 2^-11 is exactly halfway between 1 and 1 + 2^-10: ties to even gives 1.
  EXPECT_EQ(FloatToF16(1.0f + 0x1p-11f), 0x3C00);
  // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
  EXPECT_EQ(FloatToF16(1.0f + 3 * 0x1p-11f), 0x3C02);
  // Just above halfway rounds up.
  EXPECT_EQ(FloatToF16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  // 65520 is halfway between 65504 and 65536 (infinity): rounds to infinity; just below does not.
  EXPECT_EQ(FloatToF16(65520.0f), 0x7C00);
  EXPECT_EQ(FloatToF16(65519.99f), 0x7BFF);
  // Subnormal rounding: 2^-25 is a tie between 0 and 2^-24 -> 0; a bit above -> 2^-24.
  EXPECT_EQ(FloatToF16(0x1p-25f), 0x0000);
  EXPECT_EQ(FloatToF16(0x1.000002p-25f), 0x0001);
  // 1.5 * 2^-24 is a tie between 1 and 2 subnormal units -> 2 (even).
  EXPECT_EQ(FloatToF16(1.5f * 0x1p-24f), 0x0002);
  EXPECT_EQ(FloatToF16(-1.5f * 0x1p-24f), 0x8002);
}

// Every one of the 65536 half values converts to float and back unchanged.
TEST(DTypeTest, F16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = F16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToF16(f), h) << std::hex << h;
  }
}

// Float -> half agrees with an independent double-precision rounding on many values.
TEST(DTypeTest, F16MatchesDoubleRounding) {
  uint32_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    // Values spread over [2^-26, 2^17].
    const float f = std::ldexp(1.0f + (state >> 9) * 0x1p-23f, static_cast<int>(state % 43) - 26);
    if (f >= 65504.0f) continue;  // overflow is tested separately
    const uint16_t h = FloatToF16(f);
    // Candidates: h and its neighbours; the chosen one must be nearest (ties even).
    const double err = std::fabs(double(F16ToFloat(h)) - f);
    for (int delta : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>(h + delta);
      if ((n & 0x7C00) == 0x7C00) continue;
      const double en = std::fabs(double(F16ToFloat(n)) - f);
      ASSERT_TRUE(err < en || (err == en && (h & 1) == 0)) << f;
    }
  }
}

TEST(DTypeTest, BF16KnownBitPatternsAndRounding) {
  EXPECT_EQ(FloatToBF16(1.0f), 0x3F80);
  EXPECT_EQ(BF16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(FloatToBF16(-2.0f), 0xC000);
  EXPECT_EQ(BF16ToFloat(0x4049), 3.140625f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even -> 1.
  EXPECT_EQ(FloatToBF16(1.0f + 0x1p-8f), 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1+2^-7 (odd mantissa) and 1+2^-6: rounds up to even.
  EXPECT_EQ(FloatToBF16(1.0f + 3 * 0x1p-8f), 0x3F82);
  EXPECT_EQ(FloatToBF16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  // Largest finite float rounds to infinity in bf16 (RNE overflow).
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::infinity()), 0x7F80);
  const uint16_t nan = FloatToBF16(std::nanf(""));
  EXPECT_TRUE(std::isnan(BF16ToFloat(nan)));
  // A NaN whose payload sits only in the low 16 bits must stay NaN, not become infinity.
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(BitsToFloat(0x7F800001u)))));
}

TEST(DTypeTest, BF16ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = BF16ToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBF16(f), b) << std::hex << b;
  }
}

TEST(DTypeTest, BulkConversions) {
  const std::vector<float> values = {0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f};
  std::vector<uint8_t> bytes(values.size() * 2);
  ASSERT_TRUE(ConvertFromFloat(values, DType::kF16, bytes).ok());
  std::vector<float> back(values.size());
  ASSERT_TRUE(ConvertToFloat(DType::kF16, bytes, back).ok());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(back[i], F16ToFloat(FloatToF16(values[i])));
  EXPECT_FALSE(ConvertToFloat(DType::kI32, bytes, back).ok());
  EXPECT_FALSE(ConvertToFloat(DType::kF32, bytes, back).ok());  // too few bytes
  EXPECT_FALSE(ConvertFromFloat(values, DType::kI8, bytes).ok());
}

}  // namespace
}  // namespace quantd
