#include "kashin/dct.h"

#include <cassert>
#include <cmath>
#include <numbers>

#include "kashin/kernel_util.h"

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
    for (int64_t k = 0; 2 * k < n; ++k) re[k] = x[2 * k];
    for (int64_t k = 0; 2 * k + 1 < n; ++k) re[n - 1 - k] = x[2 * k + 1];
    for (int64_t k = 0; k < n; ++k) im[k] = 0;
    fft_.Forward(re, im, im + n);
    for (int64_t k = 0; k < n; ++k) x[k] = shift_re_[k] * re[k] - shift_im_[k] * im[k];
    return;
  }
  // Even n: z[k] = v[2k] + i v[2k+1] with v[j] = x[2j], v[n-1-j] = x[2j+1] (j < n/2).
  const int64_t h = half_;
  T* zr = Scratch<T>(static_cast<size_t>(2 * h + fft_.ScratchSize()));
  T* zi = zr + h;
  for (int64_t k = 0; k < h; ++k) {
    const int64_t a = 2 * k, b = 2 * k + 1;
    zr[k] = a < h ? x[2 * a] : x[2 * (n - 1 - a) + 1];
    zi[k] = b < h ? x[2 * b] : x[2 * (n - 1 - b) + 1];
  }
  fft_.Forward(zr, zi, zi + h);
  // Untangle V[k] = E[k] + t^k O[k] for k in [0, h], then X[k] = Re(P), X[n-k] = -Im(P).
  for (int64_t k = 0; k <= h; ++k) {
    const int64_t a = k == h ? 0 : k;
    const int64_t c = k == 0 ? 0 : h - k;
    const T ar = zr[a], ai = zi[a], cr = zr[c], ci = -zi[c];  // Z[k] and conj(Z[h-k])
    const T er = (ar + cr) * T(0.5), ei = (ai + ci) * T(0.5);
    const T or_ = (ai - ci) * T(0.5), oi = (cr - ar) * T(0.5);  // (Z - conj Z') / 2i
    const T vr = er + tw_re_[k] * or_ - tw_im_[k] * oi;
    const T vi = ei + tw_re_[k] * oi + tw_im_[k] * or_;
    const T pr = shift_re_[k] * vr - shift_im_[k] * vi;
    const T pi = shift_re_[k] * vi + shift_im_[k] * vr;
    // Reads of z for later k only touch zr/zi, never x, so x can be written here.
    x[k] = pr;
    if (k > 0 && k < h) x[n - k] = -pi;
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
    for (int64_t k = 0; k < n; ++k) {
      const T xr = x[k], xi = k == 0 ? T(0) : -x[n - k];
      re[k] = ishift_re_[k] * xr - ishift_im_[k] * xi;
      im[k] = ishift_re_[k] * xi + ishift_im_[k] * xr;
    }
    fft_.InverseUnscaled(re, im, im + n);
    for (int64_t k = 0; 2 * k < n; ++k) x[2 * k] = re[k];
    for (int64_t k = 0; 2 * k + 1 < n; ++k) x[2 * k + 1] = re[n - 1 - k];
    return;
  }
  const int64_t h = half_;
  T* vr = Scratch<T>(static_cast<size_t>(2 * (h + 1) + 2 * h + fft_.ScratchSize()));
  T* vi = vr + (h + 1);
  T* zr = vi + (h + 1);
  T* zi = zr + h;
  for (int64_t k = 0; k <= h; ++k) {
    const T xr = x[k], xi = (k == 0) ? T(0) : -x[n - k];
    vr[k] = ishift_re_[k] * xr - ishift_im_[k] * xi;
    vi[k] = ishift_re_[k] * xi + ishift_im_[k] * xr;
  }
  // Z[k] = E[k] + i O[k], E = (V[k] + conj V[h-k]) / 2, O = (V[k] - conj V[h-k]) conj(t^k) / 2.
  for (int64_t k = 0; k < h; ++k) {
    const T ar = vr[k], ai = vi[k], cr = vr[h - k], ci = -vi[h - k];
    const T er = (ar + cr) * T(0.5), ei = (ai + ci) * T(0.5);
    const T dr = (ar - cr) * T(0.5), di = (ai - ci) * T(0.5);
    const T or_ = dr * tw_re_[k] + di * tw_im_[k];
    const T oi = di * tw_re_[k] - dr * tw_im_[k];
    zr[k] = er - oi;
    zi[k] = ei + or_;
  }
  fft_.InverseUnscaled(zr, zi, zi + h);
  // z[k] = v[2k] + i v[2k+1]; x[2j] = v[j], x[2j+1] = v[n-1-j].
  for (int64_t k = 0; k < h; ++k) {
    const int64_t a = 2 * k, b = 2 * k + 1;
    if (a < h) {
      x[2 * a] = zr[k];
    } else {
      x[2 * (n - 1 - a) + 1] = zr[k];
    }
    if (b < h) {
      x[2 * b] = zi[k];
    } else {
      x[2 * (n - 1 - b) + 1] = zi[k];
    }
  }
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
