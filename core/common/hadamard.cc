#include "core/common/hadamard.h"

#include <cassert>
#include <cmath>

#include "core/common/seed.h"

namespace quantd {
namespace {

template <typename T>
void FwhtImpl(T* x, int64_t n) {
  assert(n >= 1 && (n & (n - 1)) == 0);
  // Radix-2 butterflies; the inner loop over j is contiguous and vectorises for h >= 4.
  for (int64_t h = 1; h < n; h <<= 1) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      T* a = x + i;
      T* b = x + i + h;
      for (int64_t j = 0; j < h; ++j) {
        const T u = a[j];
        const T v = b[j];
        a[j] = u + v;
        b[j] = u - v;
      }
    }
  }
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(n)));
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

}  // namespace

void Fwht(float* x, int64_t n) { FwhtImpl(x, n); }
void Fwht(double* x, int64_t n) { FwhtImpl(x, n); }

RandomizedHadamard::RandomizedHadamard(int64_t n, uint64_t seed) : n_(n), p_(1) {
  assert(n >= 1 && n <= (int64_t{1} << 30));
  while (p_ * 2 <= n_) p_ *= 2;
  signs_.resize(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i)
    signs_[static_cast<size_t>(i)] = SeededSign(seed, kStreamHadamardSigns, static_cast<uint64_t>(i));
  if (p_ != n_) {
    second_signs_.resize(static_cast<size_t>(p_));
    for (int64_t i = 0; i < p_; ++i) {
      second_signs_[static_cast<size_t>(i)] =
          SeededSign(seed, kStreamHadamardSigns, static_cast<uint64_t>(n_ + i));
    }
  }
}

template <typename T>
void RandomizedHadamard::ForwardImpl(T* x) const {
  for (int64_t i = 0; i < n_; ++i) x[i] *= static_cast<T>(signs_[static_cast<size_t>(i)]);
  FwhtImpl(x, p_);
  if (p_ != n_) {
    T* tail = x + (n_ - p_);
    for (int64_t i = 0; i < p_; ++i) tail[i] *= static_cast<T>(second_signs_[static_cast<size_t>(i)]);
    FwhtImpl(tail, p_);
  }
}

template <typename T>
void RandomizedHadamard::InverseImpl(T* x) const {
  if (p_ != n_) {
    T* tail = x + (n_ - p_);
    FwhtImpl(tail, p_);
    for (int64_t i = 0; i < p_; ++i) tail[i] *= static_cast<T>(second_signs_[static_cast<size_t>(i)]);
  }
  FwhtImpl(x, p_);
  for (int64_t i = 0; i < n_; ++i) x[i] *= static_cast<T>(signs_[static_cast<size_t>(i)]);
}

void RandomizedHadamard::Forward(float* x) const { ForwardImpl(x); }
void RandomizedHadamard::Forward(double* x) const { ForwardImpl(x); }
void RandomizedHadamard::Inverse(float* x) const { InverseImpl(x); }
void RandomizedHadamard::Inverse(double* x) const { InverseImpl(x); }

}  // namespace quantd
