#include "quantd/core/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace quantd {

void ErrorSums::Add(const ErrorSums& o) {
  count += o.count;
  signal_energy += o.signal_energy;
  error_energy += o.error_energy;
  max_abs_error = std::max(max_abs_error, o.max_abs_error);
}

ErrorSums ComputeErrorSums(std::span<const float> original, std::span<const float> decoded) {
  ErrorSums s;
  s.count = static_cast<int64_t>(original.size());
  double sig = 0, err = 0, mx = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    const double x = original[i];
    const double e = x - static_cast<double>(decoded[i]);
    sig += x * x;
    err += e * e;
    mx = std::max(mx, std::fabs(e));
  }
  s.signal_energy = sig;
  s.error_energy = err;
  s.max_abs_error = mx;
  return s;
}

Metrics MetricsFromSums(const ErrorSums& s, double bits_per_weight) {
  Metrics m;
  m.count = s.count;
  m.bits_per_weight = bits_per_weight;
  m.max_abs_error = s.max_abs_error;
  if (s.count > 0) m.mse = s.error_energy / static_cast<double>(s.count);
  if (s.signal_energy > 0) {
    m.relative_error = std::sqrt(s.error_energy / s.signal_energy);
  } else {
    m.relative_error = s.error_energy > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  }
  if (s.error_energy > 0) {
    m.sqnr_db = s.signal_energy > 0 ? 10.0 * std::log10(s.signal_energy / s.error_energy)
                                    : -std::numeric_limits<double>::infinity();
  } else {
    m.sqnr_db = std::numeric_limits<double>::infinity();
  }
  return m;
}

}  // namespace quantd
