#include "core/kashin/fft.h"

#include <cassert>
#include <cmath>
#include <cstring>
#include <numbers>

#include "core/kashin/dct_steps.h"
#include "core/kashin/kernel_util.h"

namespace quantd::kashin_internal {
namespace {

// exp(-2 pi i num / den) in double, with num reduced modulo den first so that the angle is
// exact to the last bit for every length.
void UnitRoot(int64_t num, int64_t den, double* re, double* im) {
  num %= den;
  if (num < 0) num += den;
  const double a = -2.0 * std::numbers::pi * static_cast<double>(num) / static_cast<double>(den);
  *re = std::cos(a);
  *im = std::sin(a);
}

// Radix-2 stage: dst[(j + l r) m' + k] = tw_r[k] * sum_q src[j m + q m' + k] (-1)^(q r).
template <typename T>
void Radix2(const T* __restrict sr, const T* __restrict si, T* __restrict dr, T* __restrict di, int64_t l,
            int64_t mp, const T* __restrict wr, const T* __restrict wi) {
  const int64_t m = 2 * mp;
  for (int64_t j = 0; j < l; ++j) {
    const T* ar = sr + j * m;
    const T* ai = si + j * m;
    T* o0r = dr + j * mp;
    T* o0i = di + j * mp;
    T* o1r = dr + (j + l) * mp;
    T* o1i = di + (j + l) * mp;
    for (int64_t k = 0; k < mp; ++k) {
      const T xr = ar[k], xi = ai[k], yr = ar[k + mp], yi = ai[k + mp];
      o0r[k] = xr + yr;
      o0i[k] = xi + yi;
      const T br = xr - yr, bi = xi - yi;
      o1r[k] = TwiddleRe(br, bi, wr[k], wi[k]);
      o1i[k] = TwiddleIm(br, bi, wr[k], wi[k]);
    }
  }
}

template <typename T>
void Radix4(const T* __restrict sr, const T* __restrict si, T* __restrict dr, T* __restrict di, int64_t l,
            int64_t mp, const T* __restrict wr, const T* __restrict wi) {
  const int64_t m = 4 * mp;
  const T* w1r = wr;
  const T* w1i = wi;
  const T* w2r = wr + mp;
  const T* w2i = wi + mp;
  const T* w3r = wr + 2 * mp;
  const T* w3i = wi + 2 * mp;
  if (mp >= 4) {
    // Long contiguous runs over k: the inner loop vectorises.
    for (int64_t j = 0; j < l; ++j) {
      const T* __restrict x0r = sr + j * m;
      const T* __restrict x0i = si + j * m;
      const T* __restrict x1r = x0r + mp;
      const T* __restrict x1i = x0i + mp;
      const T* __restrict x2r = x0r + 2 * mp;
      const T* __restrict x2i = x0i + 2 * mp;
      const T* __restrict x3r = x0r + 3 * mp;
      const T* __restrict x3i = x0i + 3 * mp;
      T* __restrict o0r = dr + j * mp;
      T* __restrict o0i = di + j * mp;
      T* __restrict o1r = dr + (j + l) * mp;
      T* __restrict o1i = di + (j + l) * mp;
      T* __restrict o2r = dr + (j + 2 * l) * mp;
      T* __restrict o2i = di + (j + 2 * l) * mp;
      T* __restrict o3r = dr + (j + 3 * l) * mp;
      T* __restrict o3i = di + (j + 3 * l) * mp;
      // The eight output streams are disjoint parts of one buffer.
      QUANTD_IVDEP
      for (int64_t k = 0; k < mp; ++k) {
        const Radix4Out<T> b =
            Radix4Butterfly(x0r[k], x0i[k], x1r[k], x1i[k], x2r[k], x2i[k], x3r[k], x3i[k]);
        o0r[k] = b.b0r;
        o0i[k] = b.b0i;
        o1r[k] = TwiddleRe(b.b1r, b.b1i, w1r[k], w1i[k]);
        o1i[k] = TwiddleIm(b.b1r, b.b1i, w1r[k], w1i[k]);
        o2r[k] = TwiddleRe(b.b2r, b.b2i, w2r[k], w2i[k]);
        o2i[k] = TwiddleIm(b.b2r, b.b2i, w2r[k], w2i[k]);
        o3r[k] = TwiddleRe(b.b3r, b.b3i, w3r[k], w3i[k]);
        o3i[k] = TwiddleIm(b.b3r, b.b3i, w3r[k], w3i[k]);
      }
    }
    return;
  }
  // Short runs (the last stages): loop over j innermost, twiddles constant per k.
  for (int64_t k = 0; k < mp; ++k) {
    const T c1r = w1r[k], c1i = w1i[k], c2r = w2r[k], c2i = w2i[k], c3r = w3r[k], c3i = w3i[k];
    for (int64_t j = 0; j < l; ++j) {
      const int64_t s = j * m + k;
      const Radix4Out<T> b = Radix4Butterfly(sr[s], si[s], sr[s + mp], si[s + mp], sr[s + 2 * mp],
                                             si[s + 2 * mp], sr[s + 3 * mp], si[s + 3 * mp]);
      const int64_t d = j * mp + k;
      dr[d] = b.b0r;
      di[d] = b.b0i;
      dr[d + l * mp] = TwiddleRe(b.b1r, b.b1i, c1r, c1i);
      di[d + l * mp] = TwiddleIm(b.b1r, b.b1i, c1r, c1i);
      dr[d + 2 * l * mp] = TwiddleRe(b.b2r, b.b2i, c2r, c2i);
      di[d + 2 * l * mp] = TwiddleIm(b.b2r, b.b2i, c2r, c2i);
      dr[d + 3 * l * mp] = TwiddleRe(b.b3r, b.b3i, c3r, c3i);
      di[d + 3 * l * mp] = TwiddleIm(b.b3r, b.b3i, c3r, c3i);
    }
  }
}

// Any radix p (odd primes): a direct O(p^2) DFT of the p inputs per butterfly. Long runs (the
// first stages, where the odd radices are placed) accumulate each output over q with the inner
// loop running over k, which vectorises; short runs fall back to one butterfly at a time.
template <typename T>
void RadixGeneric(const T* __restrict sr, const T* __restrict si, T* __restrict dr, T* __restrict di,
                  int64_t l, int64_t mp, int p, const T* __restrict wr, const T* __restrict wi) {
  const int64_t m = static_cast<int64_t>(p) * mp;
  T rr[64], ri[64];  // p-th roots of unity, p <= kMaxDirectRadix
  for (int t = 0; t < p; ++t) {
    double c, s;
    UnitRoot(t, p, &c, &s);
    rr[t] = static_cast<T>(c);
    ri[t] = static_cast<T>(s);
  }
  if (mp >= 4) {
    for (int64_t j = 0; j < l; ++j) {
      const T* xr = sr + j * m;
      const T* xi = si + j * m;
      for (int r = 0; r < p; ++r) {
        T* __restrict o_r = dr + (j + l * r) * mp;
        T* __restrict o_i = di + (j + l * r) * mp;
        for (int64_t k = 0; k < mp; ++k) {
          o_r[k] = xr[k];
          o_i[k] = xi[k];
        }
        for (int q = 1; q < p; ++q) {
          const int t = static_cast<int>((static_cast<int64_t>(q) * r) % p);
          const T cr = rr[t], ci = ri[t];
          const T* ar = xr + q * mp;
          const T* ai = xi + q * mp;
          for (int64_t k = 0; k < mp; ++k) {
            o_r[k] += TwiddleRe(ar[k], ai[k], cr, ci);
            o_i[k] += TwiddleIm(ar[k], ai[k], cr, ci);
          }
        }
        if (r == 0) continue;
        const T* cwr = wr + (r - 1) * mp;
        const T* cwi = wi + (r - 1) * mp;
        for (int64_t k = 0; k < mp; ++k) {
          const T br = o_r[k], bi = o_i[k];
          o_r[k] = TwiddleRe(br, bi, cwr[k], cwi[k]);
          o_i[k] = TwiddleIm(br, bi, cwr[k], cwi[k]);
        }
      }
    }
    return;
  }
  T ar[64], ai[64];
  for (int64_t j = 0; j < l; ++j) {
    for (int64_t k = 0; k < mp; ++k) {
      for (int q = 0; q < p; ++q) {
        ar[q] = sr[j * m + q * mp + k];
        ai[q] = si[j * m + q * mp + k];
      }
      for (int r = 0; r < p; ++r) {
        T br = ar[0], bi = ai[0];
        for (int q = 1; q < p; ++q) {
          const int t = static_cast<int>((static_cast<int64_t>(q) * r) % p);
          br += TwiddleRe(ar[q], ai[q], rr[t], ri[t]);
          bi += TwiddleIm(ar[q], ai[q], rr[t], ri[t]);
        }
        const int64_t d = (j + l * r) * mp + k;
        if (r == 0) {
          dr[d] = br;
          di[d] = bi;
        } else {
          const T cr = wr[(r - 1) * mp + k], ci = wi[(r - 1) * mp + k];
          dr[d] = TwiddleRe(br, bi, cr, ci);
          di[d] = TwiddleIm(br, bi, cr, ci);
        }
      }
    }
  }
}

// Radices for n: odd primes first (descending, so the costliest stages get the longest runs),
// then a 2, then 4s. Returns false when n has a prime factor above the direct limit.
bool Factor(int64_t n, int max_prime, std::vector<int>* radices) {
  radices->clear();
  std::vector<int> odd;
  int twos = 0;
  while (n % 2 == 0) {
    ++twos;
    n /= 2;
  }
  for (int p = 3; n > 1 && p <= max_prime; p += 2) {
    while (n % p == 0) {
      odd.push_back(p);
      n /= p;
    }
  }
  if (n != 1) return false;
  radices->assign(odd.rbegin(), odd.rend());
  if (twos % 2 == 1) radices->push_back(2);
  for (int i = 0; i < twos / 2; ++i) radices->push_back(4);
  return true;
}

}  // namespace

template <typename T>
FftPlan<T>::FftPlan(int64_t n) : n_(n) {
  assert(n >= 1 && n <= (int64_t{1} << 30));
  std::vector<int> radices;
  if (Factor(n, kMaxDirectRadix, &radices)) {
    int64_t l = 1, m = n;
    for (int p : radices) {
      Stage s;
      s.radix = p;
      s.l = l;
      s.m = m;
      const int64_t mp = m / p;
      s.tw_re.resize(static_cast<size_t>((p - 1) * mp));
      s.tw_im.resize(s.tw_re.size());
      for (int r = 1; r < p; ++r) {
        for (int64_t k = 0; k < mp; ++k) {
          double c, si;
          UnitRoot(k * r, m, &c, &si);
          s.tw_re[static_cast<size_t>((r - 1) * mp + k)] = static_cast<T>(c);
          s.tw_im[static_cast<size_t>((r - 1) * mp + k)] = static_cast<T>(si);
        }
      }
      stages_.push_back(std::move(s));
      l *= p;
      m = mp;
    }
    return;
  }
  // Bluestein: X[k] = w[k] * sum_j (x[j] w[j]) conj(w[k - j]), w[j] = exp(-pi i j^2 / n), a
  // cyclic convolution once zero-padded to M >= 2n - 1.
  int64_t big = 1;
  while (big < 2 * n - 1) big *= 2;
  inner_ = std::make_unique<FftPlan<T>>(big);
  chirp_re_.resize(static_cast<size_t>(n));
  chirp_im_.resize(static_cast<size_t>(n));
  std::vector<double> cr(static_cast<size_t>(n)), ci(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    // exp(-pi i j^2 / n) = exp(-2 pi i (j^2 mod 2n) / (2n)).
    const int64_t sq = static_cast<int64_t>((static_cast<unsigned __int128>(j) * j) % (2 * n));
    UnitRoot(sq, 2 * n, &cr[static_cast<size_t>(j)], &ci[static_cast<size_t>(j)]);
    chirp_re_[static_cast<size_t>(j)] = static_cast<T>(cr[static_cast<size_t>(j)]);
    chirp_im_[static_cast<size_t>(j)] = static_cast<T>(ci[static_cast<size_t>(j)]);
  }
  // Kernel c[t] = conj(w[|t|]) for t in (-n, n), wrapped modulo M, transformed in double and
  // scaled by 1/M (the inverse transform's normalisation).
  FftPlan<double> inner_d(big);
  std::vector<double> kr(static_cast<size_t>(big), 0.0), ki(static_cast<size_t>(big), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    kr[static_cast<size_t>(t)] = cr[static_cast<size_t>(t)];
    ki[static_cast<size_t>(t)] = -ci[static_cast<size_t>(t)];
    if (t > 0) {
      kr[static_cast<size_t>(big - t)] = cr[static_cast<size_t>(t)];
      ki[static_cast<size_t>(big - t)] = -ci[static_cast<size_t>(t)];
    }
  }
  std::vector<double> scratch(static_cast<size_t>(inner_d.ScratchSize()));
  inner_d.Forward(kr.data(), ki.data(), scratch.data());
  kernel_re_.resize(static_cast<size_t>(big));
  kernel_im_.resize(static_cast<size_t>(big));
  for (int64_t t = 0; t < big; ++t) {
    kernel_re_[static_cast<size_t>(t)] =
        static_cast<T>(kr[static_cast<size_t>(t)] / static_cast<double>(big));
    kernel_im_[static_cast<size_t>(t)] =
        static_cast<T>(ki[static_cast<size_t>(t)] / static_cast<double>(big));
  }
}

template <typename T>
FftPlan<T>::~FftPlan() = default;

namespace {

template <typename T>
int Append(std::vector<T>* data, const std::vector<T>& a, const std::vector<T>& b) {
  const int at = static_cast<int>(data->size());
  data->insert(data->end(), a.begin(), a.end());
  data->insert(data->end(), b.begin(), b.end());
  return at;
}

}  // namespace

template <typename T>
void FftPlan<T>::Export(std::vector<T>* data, FftTables* t) const {
  t->n = static_cast<int>(n_);
  auto stockham = [data](const FftPlan<T>& plan, StockhamTables* st) {
    st->n = static_cast<int>(plan.n_);
    st->count = static_cast<int>(plan.stages_.size());
    for (size_t i = 0; i < plan.stages_.size(); ++i) {
      const Stage& s = plan.stages_[i];
      st->radix[i] = s.radix;
      st->l[i] = static_cast<int>(s.l);
      st->m[i] = static_cast<int>(s.m);
      st->tw_at[i] = Append(data, s.tw_re, s.tw_im);
      if (s.radix != 2 && s.radix != 4) {  // RadixGeneric's roots, computed as it computes them
        std::vector<T> rr(static_cast<size_t>(s.radix)), ri(rr.size());
        for (int q = 0; q < s.radix; ++q) {
          double c, si;
          UnitRoot(q, s.radix, &c, &si);
          rr[static_cast<size_t>(q)] = static_cast<T>(c);
          ri[static_cast<size_t>(q)] = static_cast<T>(si);
        }
        st->roots_at[i] = Append(data, rr, ri);
      }
    }
  };
  if (inner_ == nullptr) {
    t->bluestein = 0;
    stockham(*this, &t->direct);
    return;
  }
  t->bluestein = 1;
  t->big = static_cast<int>(inner_->n_);
  stockham(*inner_, &t->inner);
  t->chirp_at = Append(data, chirp_re_, chirp_im_);
  t->kernel_at = Append(data, kernel_re_, kernel_im_);
}

template <typename T>
int64_t FftPlan<T>::ScratchSize() const {
  if (inner_ == nullptr) return 2 * n_;
  return 2 * inner_->size() + inner_->ScratchSize();
}

template <typename T>
void FftPlan<T>::Forward(T* re, T* im, T* scratch) const {
  if (inner_ != nullptr) {
    Bluestein(re, im, scratch);
  } else {
    Stockham(re, im, scratch);
  }
}

template <typename T>
void FftPlan<T>::Stockham(T* re, T* im, T* scratch) const {
  T* sr = re;
  T* si = im;
  T* dr = scratch;
  T* di = scratch + n_;
  for (const Stage& s : stages_) {
    const int64_t mp = s.m / s.radix;
    switch (s.radix) {
      case 4:
        Radix4(sr, si, dr, di, s.l, mp, s.tw_re.data(), s.tw_im.data());
        break;
      case 2:
        Radix2(sr, si, dr, di, s.l, mp, s.tw_re.data(), s.tw_im.data());
        break;
      default:
        RadixGeneric(sr, si, dr, di, s.l, mp, s.radix, s.tw_re.data(), s.tw_im.data());
    }
    std::swap(sr, dr);
    std::swap(si, di);
  }
  if (sr != re) {
    memcpy(re, sr, static_cast<size_t>(n_) * sizeof(T));
    memcpy(im, si, static_cast<size_t>(n_) * sizeof(T));
  }
}

template <typename T>
void FftPlan<T>::Bluestein(T* re, T* im, T* scratch) const {
  const int64_t big = inner_->size();
  T* ar = scratch;
  T* ai = scratch + big;
  T* rest = scratch + 2 * big;
  for (int64_t j = 0; j < n_; ++j) {
    const T wr = chirp_re_[static_cast<size_t>(j)], wi = chirp_im_[static_cast<size_t>(j)];
    ar[j] = TwiddleRe(re[j], im[j], wr, wi);
    ai[j] = TwiddleIm(re[j], im[j], wr, wi);
  }
  for (int64_t j = n_; j < big; ++j) ar[j] = ai[j] = 0;
  inner_->Forward(ar, ai, rest);
  for (int64_t t = 0; t < big; ++t) {
    const T kr = kernel_re_[static_cast<size_t>(t)], ki = kernel_im_[static_cast<size_t>(t)];
    const T xr = ar[t], xi = ai[t];
    ar[t] = TwiddleRe(xr, xi, kr, ki);
    ai[t] = TwiddleIm(xr, xi, kr, ki);
  }
  inner_->InverseUnscaled(ar, ai, rest);
  for (int64_t k = 0; k < n_; ++k) {
    const T wr = chirp_re_[static_cast<size_t>(k)], wi = chirp_im_[static_cast<size_t>(k)];
    re[k] = TwiddleRe(ar[k], ai[k], wr, wi);
    im[k] = TwiddleIm(ar[k], ai[k], wr, wi);
  }
}

template class FftPlan<float>;
template class FftPlan<double>;

}  // namespace quantd::kashin_internal
