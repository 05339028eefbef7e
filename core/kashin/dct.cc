#include "core/kashin/dct.h"

#include <cassert>
#include <cmath>
#include <numbers>

#include "core/kashin/dct_steps.h"
#include "core/kashin/kernel_util.h"

namespace quantd::kashin_internal {
namespace {

struct DctScratchTag {};

template <typename T>
T* Scratch(size_t count) {
  return ThreadScratch<T, DctScratchTag>(count);
}

}  // namespace

template <typename T>
DctPlan<T>::DctPlan(int64_t n) : n_(n), half_(n % 2 == 0 ? n / 2 : 0), fft_(n % 2 == 0 ? n / 2 : n) {
  assert(n >= 1);
  const int64_t count = half_ > 0 ? half_ + 1 : n;
  shift_re_.resize(static_cast<size_t>(count));
  shift_im_.resize(static_cast<size_t>(count));
  ishift_re_.resize(static_cast<size_t>(count));
  ishift_im_.resize(static_cast<size_t>(count));
  // The inverse DFT is unnormalised: fold its 1/length into the inverse shift.
  const double inv_len = 1.0 / static_cast<double>(half_ > 0 ? half_ : n);
  for (int64_t k = 0; k < count; ++k) {
    const double f =
        k == 0 ? std::sqrt(1.0 / static_cast<double>(n)) : std::sqrt(2.0 / static_cast<double>(n));
    const double a = -std::numbers::pi * static_cast<double>(k) / (2.0 * static_cast<double>(n));
    shift_re_[static_cast<size_t>(k)] = static_cast<T>(f * std::cos(a));
    shift_im_[static_cast<size_t>(k)] = static_cast<T>(f * std::sin(a));
    ishift_re_[static_cast<size_t>(k)] = static_cast<T>(std::cos(a) / f * inv_len);
    ishift_im_[static_cast<size_t>(k)] = static_cast<T>(-std::sin(a) / f * inv_len);
  }
  if (half_ > 0) {
    tw_re_.resize(static_cast<size_t>(half_ + 1));
    tw_im_.resize(static_cast<size_t>(half_ + 1));
    for (int64_t k = 0; k <= half_; ++k) {
      const double a = -2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(n);
      tw_re_[static_cast<size_t>(k)] = static_cast<T>(std::cos(a));
      tw_im_[static_cast<size_t>(k)] = static_cast<T>(std::sin(a));
    }
  }
}

template <typename T>
void DctPlan<T>::Forward(T* x) const {
  const int64_t n = n_;
  if (n == 1) return;
  if (half_ == 0) {
    // Odd n: V = DFT_n(v), X[k] = Re(shift[k] V[k]).
    T* re = Scratch<T>(static_cast<size_t>(2 * n + fft_.ScratchSize()));
    T* im = re + n;
    for (int64_t k = 0; k < n; ++k) {
      re[k] = x[MakhoulSource(k, n)];
      im[k] = 0;
    }
    fft_.Forward(re, im, im + n);
    for (int64_t k = 0; k < n; ++k) x[k] = TwiddleRe(shift_re_[k], shift_im_[k], re[k], im[k]);
    return;
  }
  // Even n: z[k] = v[2k] + i v[2k+1] with v[j] = x[2j], v[n-1-j] = x[2j+1] (j < n/2).
  const int64_t h = half_;
  T* zr = Scratch<T>(static_cast<size_t>(2 * h + fft_.ScratchSize()));
  T* zi = zr + h;
  for (int64_t k = 0; k < h; ++k) {
    zr[k] = x[MakhoulSource(2 * k, n)];
    zi[k] = x[MakhoulSource(2 * k + 1, n)];
  }
  fft_.Forward(zr, zi, zi + h);
  // Reads of z for later k only touch zr/zi, never x, so x can be written here.
  for (int64_t k = 0; k <= h; ++k) {
    DctUntangle(k, h, n, zr, zi, tw_re_.data(), tw_im_.data(), shift_re_.data(), shift_im_.data(), x);
  }
}

template <typename T>
void DctPlan<T>::Inverse(T* x) const {
  const int64_t n = n_;
  if (n == 1) return;
  if (half_ == 0) {
    // Odd n: V[k] = ishift[k] (X[k] - i X[n-k]), v = Re(IDFT(V)) (1/n folded into ishift).
    T* re = Scratch<T>(static_cast<size_t>(2 * n + fft_.ScratchSize()));
    T* im = re + n;
    for (int64_t k = 0; k < n; ++k) DctInverseShift(k, n, x, ishift_re_.data(), ishift_im_.data(), re, im);
    fft_.InverseUnscaled(re, im, im + n);
    for (int64_t k = 0; k < n; ++k) x[MakhoulSource(k, n)] = re[k];
    return;
  }
  const int64_t h = half_;
  T* vr = Scratch<T>(static_cast<size_t>(2 * (h + 1) + 2 * h + fft_.ScratchSize()));
  T* vi = vr + (h + 1);
  T* zr = vi + (h + 1);
  T* zi = zr + h;
  for (int64_t k = 0; k <= h; ++k) DctInverseShift(k, n, x, ishift_re_.data(), ishift_im_.data(), vr, vi);
  for (int64_t k = 0; k < h; ++k) DctTangle(k, h, vr, vi, tw_re_.data(), tw_im_.data(), zr, zi);
  fft_.InverseUnscaled(zr, zi, zi + h);
  for (int64_t k = 0; k < h; ++k) DctScatterEven(k, n, zr, zi, x);
}

template <typename T>
void DctPlan<T>::Export(std::vector<T>* data, DctTables* t) const {
  t->n = static_cast<int>(n_);
  t->half = static_cast<int>(half_);
  fft_.Export(data, &t->fft);
  auto append = [data](const std::vector<T>& a, const std::vector<T>& b) {
    const int at = static_cast<int>(data->size());
    data->insert(data->end(), a.begin(), a.end());
    data->insert(data->end(), b.begin(), b.end());
    return at;
  };
  t->shift_at = append(shift_re_, shift_im_);
  t->ishift_at = append(ishift_re_, ishift_im_);
  if (half_ > 0) t->tw_at = append(tw_re_, tw_im_);
}

template class DctPlan<float>;
template class DctPlan<double>;

void DctReference(const double* x, int64_t n, double* out) {
  for (int64_t k = 0; k < n; ++k) {
    const double f =
        k == 0 ? std::sqrt(1.0 / static_cast<double>(n)) : std::sqrt(2.0 / static_cast<double>(n));
    double s = 0;
    for (int64_t j = 0; j < n; ++j) {
      // Reduce the angle's integer part modulo 4n so that cos is evaluated on a small argument.
      const int64_t t = ((2 * j + 1) * k) % (4 * n);
      s += x[j] * std::cos(std::numbers::pi * static_cast<double>(t) / (2.0 * static_cast<double>(n)));
    }
    out[k] = f * s;
  }
}

}  // namespace quantd::kashin_internal
