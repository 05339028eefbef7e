// File: hadamard.h
//
// The seeded randomized Hadamard transform used for coherence processing (PVQ) and as Kashin's
// fast orthogonal Q: x -> H_n · D · x, with D a diagonal of random signs derived from a seed
// and H_n an orthonormal Walsh-Hadamard transform, in O(n log n) and never stored as a matrix.
//
// Lengths that are not powers of two: with p the largest power of two <= n, H_n applies the
// orthonormal Hadamard of size p to entries [0, p), then a second diagonal of random signs E to
// entries [n - p, n) and the Hadamard of size p to them again. Every step is orthogonal, so H_n
// is orthogonal and the inverse applies the steps in reverse order. E decorrelates the two
// Hadamards (without it the second would undo much of the first's mixing on the overlap). Every
// output is a combination of at least p > n/2 inputs, which is what coherence processing needs;
// outputs [n - p, n) combine all n. For n a power of two the steps coincide and H_n is one
// Hadamard. Lengths up to 2^30 are supported.
#ifndef QUANTD_CORE_COMMON_HADAMARD_H_
#define QUANTD_CORE_COMMON_HADAMARD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantd {

// In-place orthonormal fast Walsh-Hadamard transform of x[0..n). REQUIRES: n a power of two.
// The transform is its own inverse.
void Fwht(float* x, int64_t n);
void Fwht(double* x, int64_t n);

class RandomizedHadamard {
 public:
  // REQUIRES: 1 <= n <= 2^30.
  RandomizedHadamard(int64_t n, uint64_t seed);

  int64_t size() const { return n_; }
  // x <- H_n D x, in place.
  void Forward(float* x) const;
  void Forward(double* x) const;
  // x <- D H_n^T x, in place (the exact inverse of Forward).
  void Inverse(float* x) const;
  void Inverse(double* x) const;
  // The sign applied to entry i (+1 or -1).
  float sign(int64_t i) const { return signs_[static_cast<size_t>(i)]; }
  // The sign applied to entry n - p + i by the second diagonal E (0 <= i < p, p the largest power
  // of two <= n; only when n is not a power of two). For other implementations of the same
  // transform (PVQ's CUDA kernels).
  float second_sign(int64_t i) const { return second_signs_[static_cast<size_t>(i)]; }

 private:
  template <typename T>
  void ForwardImpl(T* x) const;
  template <typename T>
  void InverseImpl(T* x) const;

  int64_t n_;
  int64_t p_;  // largest power of two <= n
  std::vector<float> signs_;
  std::vector<float> second_signs_;  // E, p entries; empty when n is a power of two
};

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_HADAMARD_H_
