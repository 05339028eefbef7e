// File: dtype.h
//
// Element types of tensors and encoding sections, named as safetensors names them, and the exact
// conversions between the floating-point ones.
//
// Source tensors arrive as F32, F16 or BF16 and are widened to float exactly. Narrowing (float to
// F16 or BF16) rounds to nearest, ties to even, as IEEE 754 and PyTorch do; NaN stays NaN,
// overflow becomes infinity.
#ifndef QUANTD_CORE_DTYPE_H_
#define QUANTD_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "quantd/core/status.h"

#if defined(__CUDACC__)
#define QUANTD_HOST_DEVICE __host__ __device__
#else
#define QUANTD_HOST_DEVICE
#endif

namespace quantd {

enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kF16,
  kBF16,
  kU32,
  kI32,
  kF32,
  kU64,
  kI64,
  kF64,
};

// "F32", "BF16", ... as in the safetensors header.
std::string_view DTypeName(DType dtype);
// Parses a safetensors dtype name; nullopt for names quantd does not know (F8_E4M3, ...).
std::optional<DType> ParseDType(std::string_view name);
// Bytes per element.
size_t DTypeSize(DType dtype);
// True for the dtypes a source tensor may have to be quantized: F32, F16, BF16.
bool IsQuantizableSource(DType dtype);

// --- Scalar conversions (inline so that CUDA kernels can use them too) -----------------------

QUANTD_HOST_DEVICE inline uint32_t FloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}
QUANTD_HOST_DEVICE inline float BitsToFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

// IEEE binary16 -> binary32, exact (subnormals, infinities and NaN payloads included).
QUANTD_HOST_DEVICE inline float F16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return BitsToFloat(sign | 0x7F800000u | (mant << 13));  // Inf / NaN
  if (exp != 0) return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return BitsToFloat(sign);  // +-0
  // Subnormal: value = mant * 2^-24; normalise.
  int e = -1;
  do {
    mant <<= 1;
    ++e;
  } while ((mant & 0x400u) == 0);
  mant &= 0x3FFu;
  return BitsToFloat(sign | (static_cast<uint32_t>(112 - e) << 23) | (mant << 13));
}

// binary32 -> binary16, round to nearest even; overflow -> Inf; NaN -> quiet NaN (sign kept).
QUANTD_HOST_DEVICE inline uint16_t FloatToF16(float f) {
  const uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // Inf or NaN
    return static_cast<uint16_t>(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u | ((abs >> 13) & 0x3FFu) : 0u));
  }
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: Inf
  if (abs >= 0x38800000u) {                                              // normal half
    const uint32_t mant_round = abs + 0xFFFu + ((abs >> 13) & 1u);       // RNE on the 13 dropped bits
    return static_cast<uint16_t>(sign | ((mant_round - 0x38000000u) >> 13));
  }
  if (abs < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): zero
  // Subnormal half: value = m * 2^-24 with m in [0, 1024].
  const uint32_t e = abs >> 23;                      // biased float exponent, 102..112
  const uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;  // 24-bit significand
  const uint32_t shift = 126u - e;                   // 14..24: bits to drop so that result is in 2^-24 units
  const uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  const uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
  return static_cast<uint16_t>(sign | r);
}

// bfloat16 -> binary32: exact (the top 16 bits of a float).
QUANTD_HOST_DEVICE inline float BF16ToFloat(uint16_t b) {
  return BitsToFloat(static_cast<uint32_t>(b) << 16);
}

// binary32 -> bfloat16, round to nearest even; NaN stays a quiet NaN.
QUANTD_HOST_DEVICE inline uint16_t FloatToBF16(float f) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  const uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

// Stores `value` as one F32, F16 or BF16 element at `dst` (narrowing rounds to nearest even)
// and returns the stored value widened back to float: what a decoder will read. Used for the
// per-group and per-row scales of every method.
QUANTD_HOST_DEVICE inline float StoreScalar(float value, DType dtype, uint8_t* dst) {
  if (dtype == DType::kF16 || dtype == DType::kBF16) {
    const uint16_t h = dtype == DType::kF16 ? FloatToF16(value) : FloatToBF16(value);
    memcpy(dst, &h, 2);
    return dtype == DType::kF16 ? F16ToFloat(h) : BF16ToFloat(h);
  }
  memcpy(dst, &value, 4);
  return value;
}

// Reads one F32, F16 or BF16 element.
QUANTD_HOST_DEVICE inline float LoadScalar(const uint8_t* src, DType dtype) {
  if (dtype == DType::kF16 || dtype == DType::kBF16) {
    uint16_t h;
    memcpy(&h, src, 2);
    return dtype == DType::kF16 ? F16ToFloat(h) : BF16ToFloat(h);
  }
  float f;
  memcpy(&f, src, 4);
  return f;
}

// Widens `count` little-endian elements of a floating-point `src` dtype (F32, F16, BF16, F64) to
// float. REQUIRES: IsQuantizableSource(src) or src == kF64; bytes.size() >= count * DTypeSize(src).
Status ConvertToFloat(DType src, std::span<const uint8_t> bytes, std::span<float> out);
// Narrows floats to `dst` (F32, F16, BF16) little-endian bytes. REQUIRES: out.size() == in.size() * size.
Status ConvertFromFloat(std::span<const float> in, DType dst, std::span<uint8_t> out);

}  // namespace quantd

#endif  // QUANTD_CORE_DTYPE_H_
