// Calibration Hessians for tests and benchmarks of Hessian-aware methods: H = X^T X for inputs
// with strongly correlated features, and the proxy loss tr(E H E^T) such methods lower.
#ifndef QUANTD_TESTS_TESTING_HESSIAN_H_
#define QUANTD_TESTS_TESTING_HESSIAN_H_

#include <cstdint>
#include <random>
#include <vector>

namespace quantd::testing {

// H = X^T X (n x n, row-major) for `tokens` inputs x = F f + noise: `factors` shared Gaussian
// factors mixed into every feature by a fixed random F, plus independent noise of deviation
// `noise`. Few factors and little noise make H strongly correlated (nearly low-rank).
inline std::vector<float> CorrelatedHessian(int64_t n, int64_t tokens, uint64_t seed, int64_t factors = 8,
                                            double noise = 0.2) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> mix(static_cast<size_t>(factors * n));
  for (double& v : mix) v = normal(rng);
  std::vector<double> h(static_cast<size_t>(n * n), 0.0), x(static_cast<size_t>(n)),
      f(static_cast<size_t>(factors));
  for (int64_t t = 0; t < tokens; ++t) {
    for (double& v : f) v = normal(rng);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = noise * normal(rng);
      for (int64_t k = 0; k < factors; ++k) x[i] += f[k] * mix[k * n + i];
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) h[i * n + j] += x[i] * x[j];
    }
  }
  return std::vector<float>(h.begin(), h.end());
}

// tr(E H E^T) for E = W - W_hat (rows x n, row-major).
inline double ProxyLoss(const std::vector<float>& w, const std::vector<float>& back,
                        const std::vector<float>& h, int64_t rows, int64_t n) {
  double loss = 0;
  std::vector<double> e(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) e[i] = double(w[r * n + i]) - back[r * n + i];
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += h[i * n + j] * e[j];
      loss += e[i] * s;
    }
  }
  return loss;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_TESTING_HESSIAN_H_
