// File: metrics.h
//
// Reconstruction quality of a decoded block against the original: MSE, relative Frobenius
// error, SQNR and maximum absolute error. `ErrorSums` holds the additive parts so that the
// metrics of a tensor encoded in several blocks are exact combinations of the blocks' sums
// (combined in block order, so they are deterministic too).
#ifndef QUANTD_CORE_METRICS_H_
#define QUANTD_CORE_METRICS_H_

#include <cstdint>
#include <span>

namespace quantd {

struct ErrorSums {
  int64_t count = 0;
  double signal_energy = 0;  // sum x^2
  double error_energy = 0;   // sum (x - x_hat)^2
  double max_abs_error = 0;

  void Add(const ErrorSums& other);
};

struct Metrics {
  int64_t count = 0;
  double mse = 0;
  double relative_error = 0;  // ||x - x_hat||_F / ||x||_F (0 when both are 0)
  double sqnr_db = 0;         // 10 log10(sum x^2 / sum e^2); +inf when exact
  double max_abs_error = 0;
  double bits_per_weight = 0;  // filled by the caller from the encoding's storage
};

// Sums over the element pairs of one run of values (one row): eight lanes, element i in lane
// i % 8 for the whole blocks of eight, combined in lane order, then the rest one by one
// (metrics.cc). REQUIRES: original.size() == decoded.size().
ErrorSums ComputeErrorSums(std::span<const float> original, std::span<const float> decoded);
// The sums of a block of rows of `cols` values: each row's ComputeErrorSums, added in row order.
// An encoder that measures each row as it encodes it gets the same bits (Method::EncodeMeasured).
ErrorSums ComputeBlockErrorSums(std::span<const float> original, std::span<const float> decoded,
                                int64_t cols);
Metrics MetricsFromSums(const ErrorSums& sums, double bits_per_weight);

}  // namespace quantd

#endif  // QUANTD_CORE_METRICS_H_
