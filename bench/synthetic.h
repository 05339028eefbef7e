// Synthetic weight matrices for benchmarks: Gaussian, and heavy-tailed ones that look like LLM
// weights (Student-t entries plus a few outlier input columns), all from fixed seeds.
#ifndef QUANTD_BENCH_SYNTHETIC_H_
#define QUANTD_BENCH_SYNTHETIC_H_

#include <cstdint>
#include <random>
#include <vector>

namespace quantd::bench {

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

}  // namespace quantd::bench

#endif  // QUANTD_BENCH_SYNTHETIC_H_
