#include "core/common/section_check.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace quantd {

namespace {

// True when no element has an all-ones exponent (Inf or NaN): an integer test per element that
// the compiler vectorises, so the exact scan below runs only on corrupt sections.
template <typename Bits>
bool NoneHasExponent(const uint8_t* p, size_t n, Bits exponent) {
  Bits bad = 0;
  for (size_t i = 0; i < n; ++i) {
    Bits b;
    memcpy(&b, p + i * sizeof(Bits), sizeof(Bits));
    bad |= static_cast<Bits>((b & exponent) == exponent);
  }
  return bad == 0;
}

bool AllExponentsFinite(const Section& s) {
  const size_t n = s.data.size() / DTypeSize(s.dtype);
  switch (s.dtype) {
    case DType::kF16:
      return NoneHasExponent<uint16_t>(s.data.data(), n, 0x7C00);
    case DType::kBF16:
      return NoneHasExponent<uint16_t>(s.data.data(), n, 0x7F80);
    case DType::kF32:
      return NoneHasExponent<uint32_t>(s.data.data(), n, 0x7F800000u);
    default:
      return false;
  }
}

}  // namespace

Status RequireFiniteValues(const Section& s, bool non_negative) {
  if (!(s.dtype == DType::kF16 || s.dtype == DType::kBF16 || s.dtype == DType::kF32 || s.dtype == DType::kF64)) {
    return OkStatus();
  }
  const size_t size = DTypeSize(s.dtype);
  const size_t n = s.data.size() / size;
  if (!non_negative && AllExponentsFinite(s)) return OkStatus();
  for (size_t i = 0; i < n; ++i) {
    double v;
    if (s.dtype == DType::kF64) {
      memcpy(&v, s.data.data() + i * 8, 8);
    } else {
      v = LoadScalar(s.data.data() + i * size, s.dtype);
    }
    if (!std::isfinite(v) || (non_negative && v < 0)) {
      return DataLossError("section '" + s.name + "' element " + std::to_string(i) + " is " + std::to_string(v) +
                           (non_negative ? ", not a finite value >= 0" : ", not finite") +
                           ": no encoder stores that, the encoding is corrupt");
    }
  }
  return OkStatus();
}

}  // namespace quantd
