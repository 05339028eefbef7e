#include "core/common/section_check.h"

#include <cmath>
#include <string>

namespace quantd {

Status RequireFiniteValues(const Section& s, bool non_negative) {
  if (!(s.dtype == DType::kF16 || s.dtype == DType::kBF16 || s.dtype == DType::kF32 || s.dtype == DType::kF64)) {
    return OkStatus();
  }
  const size_t size = DTypeSize(s.dtype);
  const size_t n = s.data.size() / size;
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
