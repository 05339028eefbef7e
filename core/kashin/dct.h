// File: dct.h
//
// The orthonormal DCT-II and its inverse, the orthonormal DCT-III, of any length n, in
// O(n log n), for Kashin quantization's `dct` and `dct_signed` transforms:
//
//   X[k] = f_k * sum_{j<n} x[j] cos(pi (2j + 1) k / (2n)),   f_0 = sqrt(1/n), f_k = sqrt(2/n)
//
// i.e. X = C x with C orthogonal (columns phi_k(j) = f_k cos(pi (2j+1) k / 2n), the matrix of
// the paper's notebook `generate_dct`); Inverse computes C^T X.
//
// Algorithm (Makhoul 1980): reorder v[k] = x[2k], v[n-1-k] = x[2k+1]; then
// X[k] = f_k Re(exp(-i pi k / 2n) V[k]) with V the length-n DFT of v (fft.h). For even n the
// real DFT of v is one complex DFT of length n/2 of z[k] = v[2k] + i v[2k+1] plus an O(n)
// untangling step; odd n use a complex DFT of length n. The inverse runs the same steps
// backwards (V[k] = exp(+i pi k / 2n) (X[k] - i X[n-k]), then an inverse DFT). Every length has
// a fast form (lengths with a prime factor above 31 go through Bluestein's algorithm in fft.h).
//
// A plan is immutable and thread-safe; scratch is thread-local inside the calls.
#ifndef QUANTD_CORE_KASHIN_DCT_H_
#define QUANTD_CORE_KASHIN_DCT_H_

#include <cstdint>
#include <vector>

#include "core/kashin/fft.h"

namespace quantd::kashin_internal {

// DctPlan's constants flattened for the CUDA kernels (offsets into one float buffer, as FftTables).
struct DctTables {
  int n = 0;
  int half = 0;  // n/2 for even n, else 0
  FftTables fft;
  int shift_at = 0, ishift_at = 0;  // count = half + 1 (even n) or n entries, real then imaginary
  int tw_at = 0;                    // even n: half + 1 entries, real then imaginary
};

template <typename T>
class DctPlan {
 public:
  // REQUIRES: 1 <= n <= 2^30.
  explicit DctPlan(int64_t n);

  int64_t size() const { return n_; }
  // x <- C x (orthonormal DCT-II), in place.
  void Forward(T* x) const;
  // x <- C^T x (orthonormal DCT-III, the inverse), in place.
  void Inverse(T* x) const;
  // The constants, appended to `data` (the offsets in *t are into data).
  void Export(std::vector<T>* data, DctTables* t) const;

 private:
  int64_t n_;
  int64_t half_;  // n/2 for even n (the complex DFT length), else 0
  FftPlan<T> fft_;
  // Per k in [0, half_] (even n) or [0, n) (odd n): f_k exp(-i pi k / 2n), and for the inverse
  // exp(+i pi k / 2n) / f_k / (DFT length).
  std::vector<T> shift_re_, shift_im_, ishift_re_, ishift_im_;
  // Even n, per k in [0, half_]: exp(-2 pi i k / n), the real-DFT untangling twiddle.
  std::vector<T> tw_re_, tw_im_;
};

extern template class DctPlan<float>;
extern template class DctPlan<double>;

// The O(n^2) definition above, in double: the reference the tests check the plan against.
void DctReference(const double* x, int64_t n, double* out);

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_DCT_H_
