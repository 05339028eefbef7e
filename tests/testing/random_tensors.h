// File: random_tensors.h
//
// Deterministic random tensors for tests and benchmarks, all from fixed seeds: Gaussian and
// Student-t values, and weight matrices that look like LLM weights (Student-t entries plus a
// few outlier input columns); and the SQNR of a reconstruction.
#ifndef QUANTD_TESTS_TESTING_RANDOM_TENSORS_H_
#define QUANTD_TESTS_TESTING_RANDOM_TENSORS_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace quantd::testing {

// n Gaussian values N(0, sigma^2).
inline std::vector<float> Gaussian(size_t n, uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// n Student-t values with nu degrees of freedom (heavy tails), scaled by sigma.
inline std::vector<float> StudentT(size_t n, uint64_t seed, double nu, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::student_t_distribution<double> dist(nu);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(dist(rng)) * sigma;
  return v;
}

// SQNR in dB of `decoded` against `original`.
inline double SqnrDb(const std::vector<float>& original, const std::vector<float>& decoded) {
  double s = 0, e = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    s += double(original[i]) * original[i];
    const double d = double(original[i]) - decoded[i];
    e += d * d;
  }
  return 10 * std::log10(s / e);
}

inline std::vector<float> GaussianMatrix(int64_t rows, int64_t cols, uint64_t seed, float sigma = 0.02f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) x = d(rng);
  return w;
}

// Student-t (nu degrees of freedom) entries scaled to `sigma`, and `outlier_cols` columns
// (spread evenly) multiplied by `outlier_gain`, as in LLM layers fed by outlier channels.
inline std::vector<float> HeavyTailedMatrix(int64_t rows, int64_t cols, uint64_t seed, double nu = 4.0,
                                            int outlier_cols = 4, float outlier_gain = 20.0f,
                                            float sigma = 0.02f) {
  std::mt19937_64 rng(seed);
  std::student_t_distribution<double> d(nu);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) x = static_cast<float>(d(rng)) * sigma;
  for (int k = 0; k < outlier_cols; ++k) {
    const int64_t c = (k * 2 + 1) * cols / (2 * outlier_cols);
    for (int64_t r = 0; r < rows; ++r) w[static_cast<size_t>(r * cols + c)] *= outlier_gain;
  }
  return w;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_TESTING_RANDOM_TENSORS_H_
