#include "core/kashin/transform.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/common/hadamard.h"
#include "core/common/parallel.h"
#include "core/common/seed.h"
#include "core/kashin/dct.h"
#include "core/kashin/kernel_util.h"
#include "core/kashin/orthogonal.h"

namespace quantd::kashin_internal {
namespace {

struct DenseScratchTag {};

class HadamardTransform final : public Transform {
 public:
  HadamardTransform(int64_t n, uint64_t seed) : h_(n, seed) {}
  int64_t size() const override { return h_.size(); }
  void Forward(float* x) const override { h_.Forward(x); }
  void Forward(double* x) const override { h_.Forward(x); }
  void Inverse(float* x) const override { h_.Inverse(x); }
  void Inverse(double* x) const override { h_.Inverse(x); }

 private:
  RandomizedHadamard h_;
};

class DctTransform final : public Transform {
 public:
  // With `signed_`, Q = C^T E C; otherwise Q = C.
  DctTransform(int64_t n, bool with_signs, uint64_t seed) : f_(n), d_(n) {
    if (with_signs) {
      signs_.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        signs_[static_cast<size_t>(i)] = SeededSign(seed, kStreamDctSigns, static_cast<uint64_t>(i));
    }
  }
  int64_t size() const override { return f_.size(); }
  void Forward(float* x) const override { Apply(f_, x, true); }
  void Forward(double* x) const override { Apply(d_, x, true); }
  void Inverse(float* x) const override { Apply(f_, x, false); }
  void Inverse(double* x) const override { Apply(d_, x, false); }

 private:
  template <typename T>
  void Apply(const DctPlan<T>& plan, T* x, bool forward) const {
    if (signs_.empty()) {
      if (forward) {
        plan.Forward(x);
      } else {
        plan.Inverse(x);
      }
      return;
    }
    // C^T E C is its own transpose: the same steps both ways.
    plan.Forward(x);
    const int64_t n = plan.size();
    for (int64_t i = 0; i < n; ++i) x[i] *= static_cast<T>(signs_[static_cast<size_t>(i)]);
    plan.Inverse(x);
  }

  DctPlan<float> f_;
  DctPlan<double> d_;
  std::vector<float> signs_;
};

// Dot product with eight interleaved partial sums in a fixed order (vectorisable, and the same
// result for every thread count and vector width).
template <typename T>
T Dot8(const T* a, const T* b, int64_t n) {
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

class DenseTransform final : public Transform {
 public:
  DenseTransform(int64_t n, uint64_t seed) : n_(n), d_(RandomOrthogonal(n, seed)), f_(d_.begin(), d_.end()) {}
  int64_t size() const override { return n_; }
  void Forward(float* x) const override { ApplyForward(f_.data(), x); }
  void Forward(double* x) const override { ApplyForward(d_.data(), x); }
  void Inverse(float* x) const override { ApplyInverse(f_.data(), x); }
  void Inverse(double* x) const override { ApplyInverse(d_.data(), x); }

 private:
  // y = Q x = sum_j x_j Q[:, j]: contiguous column updates.
  template <typename T>
  void ApplyForward(const T* q, T* x) const {
    T* y = ThreadScratch<T, DenseScratchTag>(static_cast<size_t>(n_));
    std::fill(y, y + n_, T(0));
    for (int64_t j = 0; j < n_; ++j) {
      const T xj = x[j];
      const T* col = q + j * n_;
      for (int64_t i = 0; i < n_; ++i) y[i] += xj * col[i];
    }
    std::copy(y, y + n_, x);
  }
  // y_j = Q[:, j] . x.
  template <typename T>
  void ApplyInverse(const T* q, T* x) const {
    T* y = ThreadScratch<T, DenseScratchTag>(static_cast<size_t>(n_));
    for (int64_t j = 0; j < n_; ++j) y[j] = Dot8(q + j * n_, x, n_);
    std::copy(y, y + n_, x);
  }

  int64_t n_;
  std::vector<double> d_;  // column-major
  std::vector<float> f_;
};

// Process-wide cache of transforms. Entries are shared_ptrs, so evicting one that is in use
// only drops the cache's reference.
class TransformCache {
 public:
  std::shared_ptr<const Transform> Get(TransformKind kind, int64_t n, uint64_t seed) {
    const Key key{static_cast<int>(kind), n, kind == TransformKind::kDct ? 0 : seed};
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end()) {
        it->second.last_use = ++clock_;
        return it->second.transform;
      }
    }
    // Built outside the lock: a dense matrix takes long, and building is deterministic, so
    // two threads racing on one key build equal transforms and either may be kept.
    std::shared_ptr<const Transform> t = Build(kind, n, seed);
    const size_t bytes = Bytes(kind, n);
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = entries_.try_emplace(key, Entry{t, bytes, ++clock_});
    if (!inserted) return it->second.transform;
    total_ += bytes;
    while (total_ > kTransformCacheBytes && entries_.size() > 1) {
      auto victim = entries_.end();
      for (auto e = entries_.begin(); e != entries_.end(); ++e) {
        if (e->first == key) continue;
        if (victim == entries_.end() || e->second.last_use < victim->second.last_use) victim = e;
      }
      total_ -= victim->second.bytes;
      entries_.erase(victim);
    }
    return t;
  }

 private:
  using Key = std::tuple<int, int64_t, uint64_t>;
  struct Entry {
    std::shared_ptr<const Transform> transform;
    size_t bytes;
    uint64_t last_use;
  };

  static std::shared_ptr<const Transform> Build(TransformKind kind, int64_t n, uint64_t seed) {
    switch (kind) {
      case TransformKind::kHadamard:
        return std::make_shared<HadamardTransform>(n, seed);
      case TransformKind::kDct:
        return std::make_shared<DctTransform>(n, false, seed);
      case TransformKind::kDctSigned:
        return std::make_shared<DctTransform>(n, true, seed);
      case TransformKind::kQr:
        return std::make_shared<DenseTransform>(n, seed);
    }
    return nullptr;
  }
  static size_t Bytes(TransformKind kind, int64_t n) {
    const size_t un = static_cast<size_t>(n);
    return kind == TransformKind::kQr ? 12 * un * un : 64 * un;
  }

  std::mutex mu_;
  std::map<Key, Entry> entries_;
  size_t total_ = 0;
  uint64_t clock_ = 0;
};

// Row-major a (rows x cols) -> row-major b (cols x rows), in 32 x 32 tiles, rows in parallel.
template <typename T>
void Transpose(const T* a, int64_t rows, int64_t cols, T* b) {
  constexpr int64_t kTile = 32;
  ParallelFor(0, (rows + kTile - 1) / kTile, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t i0 = t0 * kTile; i0 < std::min(rows, t1 * kTile); i0 += kTile) {
      const int64_t i1 = std::min(rows, i0 + kTile);
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t j1 = std::min(cols, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t j = j0; j < j1; ++j) b[j * rows + i] = a[i * cols + j];
        }
      }
    }
  });
}

}  // namespace

std::string_view TransformName(TransformKind kind) {
  switch (kind) {
    case TransformKind::kHadamard:
      return "hadamard";
    case TransformKind::kDct:
      return "dct";
    case TransformKind::kDctSigned:
      return "dct_signed";
    case TransformKind::kQr:
      return "qr";
  }
  return "?";
}

StatusOr<std::shared_ptr<const Transform>> GetTransform(TransformKind kind, int64_t n, uint64_t seed) {
  if (n < 1 || n > (int64_t{1} << 30)) {
    return InvalidArgumentError("transform length " + std::to_string(n) + " is out of range [1, 2^30]");
  }
  if (kind == TransformKind::kQr && n > kMaxDenseSize) {
    return InvalidArgumentError("transform 'qr' builds a dense " + std::to_string(n) + " x " +
                                std::to_string(n) + " matrix; its limit is " + std::to_string(kMaxDenseSize) +
                                " (use block_length <= " + std::to_string(kMaxDenseSize) +
                                ", or transform=hadamard|dct|dct_signed)");
  }
  static TransformCache* cache = new TransformCache();
  return cache->Get(kind, n, seed);
}

MatrixTransform::MatrixTransform(std::shared_ptr<const Transform> q1, std::shared_ptr<const Transform> q2)
    : q1_(std::move(q1)), q2_(std::move(q2)), m_(q1_->size()), n_(q2_->size()) {}

template <typename T>
void MatrixTransform::Apply(T* x, bool forward) const {
  // Q2 on every row.
  const int64_t row_grain = std::max<int64_t>(1, (int64_t{1} << 15) / n_);
  ParallelFor(0, m_, row_grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (forward) {
        q2_->Forward(x + r * n_);
      } else {
        q2_->Inverse(x + r * n_);
      }
    }
  });
  if (m_ == 1) return;
  // Q1 on every column: transpose, transform the rows of the transpose, transpose back. The
  // transpose buffer is kept between calls (a fresh zero-filled one per call cost a serial pass
  // over 64 MiB for a 4096 x 4096 matrix at every step).
  std::unique_ptr<T[]>& buf = Buffer<T>();
  if (buf == nullptr) buf.reset(new T[static_cast<size_t>(m_ * n_)]);
  T* t = buf.get();
  Transpose(x, m_, n_, t);
  const int64_t col_grain = std::max<int64_t>(1, (int64_t{1} << 15) / m_);
  ParallelFor(0, n_, col_grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      if (forward) {
        q1_->Forward(t + c * m_);
      } else {
        q1_->Inverse(t + c * m_);
      }
    }
  });
  Transpose(t, n_, m_, x);
}

void MatrixTransform::Forward(float* x) const { Apply(x, true); }
void MatrixTransform::Forward(double* x) const { Apply(x, true); }
void MatrixTransform::Inverse(float* x) const { Apply(x, false); }
void MatrixTransform::Inverse(double* x) const { Apply(x, false); }

}  // namespace quantd::kashin_internal
