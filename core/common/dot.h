// File: dot.h
//
// A double dot product in a fixed order: four interleaved partial sums (which the compiler keeps
// in one vector register), added together at the end. The result depends neither on threads nor
// on the vector width, which keeps encodings that use it deterministic (Kashin's QR, PVQ's
// Hessian factorisation).
#ifndef QUANTD_CORE_COMMON_DOT_H_
#define QUANTD_CORE_COMMON_DOT_H_

#include <cstdint>

namespace quantd {

inline double DotFixedOrder(const double* a, const double* b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_DOT_H_
