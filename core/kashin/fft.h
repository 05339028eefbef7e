// File: fft.h
//
// A complex discrete Fourier transform of any length, in O(n log n), for the DCT of Kashin
// quantization (core/kashin/dct.h). The core may not depend on FFTW, so it has its own.
//
//   X[k] = sum_j x[j] * exp(-2 pi i j k / n),   k = 0 .. n-1   (unnormalised)
//
// Data is split: real parts in one array, imaginary parts in another, so that every butterfly
// loop runs over contiguous floats and vectorises.
//
// Algorithm: a Stockham autosort decimation-in-frequency FFT. n is factored into radices 4, 2
// and odd primes up to kMaxDirectRadix, each stage reading one buffer and writing the other, so
// no bit reversal is needed. A length with a larger prime factor is computed by Bluestein's
// chirp-z algorithm as a cyclic convolution of power-of-two length >= 2n - 1.
//
// A plan is immutable after construction and may be used from any number of threads; each call
// needs caller-provided scratch of ScratchSize() values.
#ifndef QUANTD_CORE_KASHIN_FFT_H_
#define QUANTD_CORE_KASHIN_FFT_H_

#include <cstdint>
#include <memory>
#include <vector>

namespace quantd::kashin_internal {

// A plan's constants flattened for the CUDA kernels (dct_block.h): every array is an offset into
// one float buffer, so that the same struct serves a host copy and a device copy.
inline constexpr int kMaxFftStages = 32;

struct StockhamTables {
  int n = 0;
  int count = 0;                  // stages
  int radix[kMaxFftStages] = {};  // 4, 2 or an odd prime
  int l[kMaxFftStages] = {};
  int m[kMaxFftStages] = {};
  int tw_at[kMaxFftStages] = {};     // (radix - 1) * m / radix twiddles, real parts then imaginary
  int roots_at[kMaxFftStages] = {};  // odd radix p: the p-th roots of unity, p real then p imaginary
};

struct FftTables {
  int n = 0;
  int bluestein = 0;      // 1: chirp-z through the power-of-two `inner`
  StockhamTables direct;  // bluestein == 0
  StockhamTables inner;   // bluestein == 1, length big
  int big = 0;
  int chirp_at = 0;   // n real then n imaginary
  int kernel_at = 0;  // big real then big imaginary
};

template <typename T>
class FftPlan {
 public:
  // Largest prime handled by a direct radix stage; lengths with a larger prime factor use
  // Bluestein's algorithm.
  static constexpr int kMaxDirectRadix = 31;

  // REQUIRES: 1 <= n <= 2^30.
  explicit FftPlan(int64_t n);
  ~FftPlan();
  FftPlan(const FftPlan&) = delete;
  FftPlan& operator=(const FftPlan&) = delete;

  int64_t size() const { return n_; }
  // Number of T values of scratch a call needs.
  int64_t ScratchSize() const;

  // In-place forward DFT of (re, im), each n values.
  void Forward(T* re, T* im, T* scratch) const;
  // In-place inverse DFT, unnormalised: x[j] = sum_k X[k] exp(+2 pi i j k / n).
  void InverseUnscaled(T* re, T* im, T* scratch) const { Forward(im, re, scratch); }

  // The constants, appended to `data` (the offsets in *t are into data).
  void Export(std::vector<T>* data, FftTables* t) const;

 private:
  struct Stage {
    int radix;
    int64_t l;                    // sub-transforms already split off before this stage
    int64_t m;                    // length of each sub-transform before this stage (radix * m' after)
    std::vector<T> tw_re, tw_im;  // exp(-2 pi i k r / m) for r in [1, radix), k in [0, m/radix)
  };
  void Stockham(T* re, T* im, T* scratch) const;
  void Bluestein(T* re, T* im, T* scratch) const;

  int64_t n_;
  std::vector<Stage> stages_;
  // Bluestein: chirp w[j] = exp(-pi i j^2 / n) and the transformed convolution kernel.
  std::unique_ptr<FftPlan<T>> inner_;
  std::vector<T> chirp_re_, chirp_im_, kernel_re_, kernel_im_;
};

extern template class FftPlan<float>;
extern template class FftPlan<double>;

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_FFT_H_
