// File: metrics_internal.h
//
// ComputeErrorSums (metrics.h) in a chosen instruction-set variant, for the tests that check that
// every variant gives the same bits.
#ifndef QUANTD_CORE_COMMON_METRICS_INTERNAL_H_
#define QUANTD_CORE_COMMON_METRICS_INTERNAL_H_

#include <span>

#include "core/common/isa.h"
#include "quantd/core/metrics.h"

namespace quantd::metrics_internal {

// `isa` kAuto: the best this CPU runs; otherwise an available variant (IsaAvailable).
ErrorSums ComputeErrorSums(Isa isa, std::span<const float> original, std::span<const float> decoded);

}  // namespace quantd::metrics_internal

#endif  // QUANTD_CORE_COMMON_METRICS_INTERNAL_H_
