// File: pvq_math.h
//
// The few math functions PVQ's shared host/device code (pvq_search_impl.h, pvq_gain.h,
// pvq_kernels.h) uses, callable from both: the CUDA device library on the device, the C++
// library on the host. Each is exact or correctly rounded in IEEE-754 double on both (double
// sqrt is always correctly rounded on CUDA devices), so the two compilations give the same bits.
// Min and Max have std::min / std::max semantics (the first argument unless the second is
// strictly smaller / larger), NaN included.
#ifndef QUANTD_CORE_PVQ_PVQ_MATH_H_
#define QUANTD_CORE_PVQ_PVQ_MATH_H_

#include <cmath>
#include <limits>

#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

// The device library's functions in device code, the C++ library's in host code.
#ifdef __CUDA_ARCH__
#define QUANTD_PVQ_MATH(f) ::f
#else
#define QUANTD_PVQ_MATH(f) std::f
#endif

namespace quantd::pvq_internal::math {

QUANTD_HOST_DEVICE inline double Sqrt(double v) { return QUANTD_PVQ_MATH(sqrt)(v); }
QUANTD_HOST_DEVICE inline double Floor(double v) { return QUANTD_PVQ_MATH(floor)(v); }
QUANTD_HOST_DEVICE inline double Fabs(double v) { return QUANTD_PVQ_MATH(fabs)(v); }
QUANTD_HOST_DEVICE inline bool IsFinite(double v) { return QUANTD_PVQ_MATH(isfinite)(v); }
QUANTD_HOST_DEVICE inline double Min(double a, double b) { return b < a ? b : a; }
QUANTD_HOST_DEVICE inline double Max(double a, double b) { return a < b ? b : a; }
QUANTD_HOST_DEVICE inline double Infinity() { return std::numeric_limits<double>::infinity(); }

}  // namespace quantd::pvq_internal::math

#undef QUANTD_PVQ_MATH

#endif  // QUANTD_CORE_PVQ_PVQ_MATH_H_
