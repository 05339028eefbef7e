// File: transform.h
//
// The orthogonal transforms Q of Kashin quantization, applied to vectors in place and never
// stored as matrices when a fast form exists. Every one is exactly orthogonal in exact
// arithmetic, so Inverse (Q^T) undoes Forward (Q):
//
//   hadamard    Q = H_n D (quantd::RandomizedHadamard: random signs, then the orthonormal
//               Walsh-Hadamard transform; lengths that are not powers of two use its two
//               overlapping power-of-two blocks, see hadamard.h). O(n log n).
//   dct         Q = C, the orthonormal DCT-II (dct.h), no randomness. O(n log n).
//   dct_signed  Q = C^T E C, E a diagonal of seeded random signs: the follow-up paper's
//               sign-randomised DCT (a symmetric involution, Q = Q^T). O(n log n).
//   qr          a dense Haar orthogonal matrix from the QR of a seeded Gaussian (orthogonal.h),
//               the paper's default. O(n^2) per vector, n <= kMaxDenseSize.
//
// Transforms (all but MatrixTransform) are immutable and thread-safe. GetTransform caches them
// process-wide (a dense 4096 x 4096 matrix takes a minute to build), keyed by (kind, n, seed).
//
// MatrixTransform is the paper's two-sided form for `matrix` mode: on an m x n row-major
// matrix X it computes Q1 X Q2^T (Q2 on every row, then Q1 on every column), which is the
// Kronecker product Q1 (x) Q2 acting on the flattened matrix: an orthogonal transform of
// length m*n to which the same greedy algorithm applies.
#ifndef QUANTD_CORE_KASHIN_TRANSFORM_H_
#define QUANTD_CORE_KASHIN_TRANSFORM_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>

#include "quantd/core/status.h"

namespace quantd::kashin_internal {

enum class TransformKind { kHadamard, kDct, kDctSigned, kQr };

// "hadamard", "dct", "dct_signed", "qr".
std::string_view TransformName(TransformKind kind);

// Largest dense (qr) transform: 4096 x 4096 is 128 MiB in double plus 64 MiB in float.
inline constexpr int64_t kMaxDenseSize = 4096;
// The transforms kept for reuse together stay under this (least recently used evicted first);
// one dense transform of the largest length takes 192 MiB.
inline constexpr size_t kTransformCacheBytes = size_t{512} << 20;

class Transform {
 public:
  virtual ~Transform() = default;
  // Length of the vectors it acts on.
  virtual int64_t size() const = 0;
  // x <- Q x.
  virtual void Forward(float* x) const = 0;
  virtual void Forward(double* x) const = 0;
  // x <- Q^T x.
  virtual void Inverse(float* x) const = 0;
  virtual void Inverse(double* x) const = 0;
};

// The transform of `kind` for length n under `seed` (ignored by dct), shared from the cache.
// INVALID_ARGUMENT for n < 1, or n > kMaxDenseSize with qr.
StatusOr<std::shared_ptr<const Transform>> GetTransform(TransformKind kind, int64_t n, uint64_t seed);

// Q1 (x) Q2 on m x n row-major matrices. Rows and columns are transformed in parallel with
// quantd::ParallelFor; results do not depend on the number of threads. Unlike the others it owns
// a transpose buffer, so one object must not be used by two threads at once (each encoding or
// decoding builds its own).
class MatrixTransform final : public Transform {
 public:
  // REQUIRES: q1->size() == m, q2->size() == n.
  MatrixTransform(std::shared_ptr<const Transform> q1, std::shared_ptr<const Transform> q2);
  int64_t size() const override { return m_ * n_; }
  void Forward(float* x) const override;
  void Forward(double* x) const override;
  void Inverse(float* x) const override;
  void Inverse(double* x) const override;

 private:
  template <typename T>
  void Apply(T* x, bool forward) const;
  template <typename T>
  std::unique_ptr<T[]>& Buffer() const {
    if constexpr (std::is_same_v<T, float>) {
      return buffer_f_;
    } else {
      return buffer_d_;
    }
  }

  std::shared_ptr<const Transform> q1_, q2_;
  int64_t m_, n_;
  mutable std::unique_ptr<float[]> buffer_f_;
  mutable std::unique_ptr<double[]> buffer_d_;
};

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_TRANSFORM_H_
