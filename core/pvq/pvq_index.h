// File: pvq_index.h
//
// Enumeration of the pyramid P(D, K) = {p in Z^D : sum |p_i| = K} (Fischer 1986): the number of
// points N(D, K), and a bijection between P(D, K) and the integers [0, N(D, K)).
//
// Counting. N(l, 0) = 1, N(0, k) = 0 for k > 0, and
//   N(l, k) = N(l-1, k) + N(l-1, k-1) + N(l, k-1)
// (closed form: N(l, k) = sum_{j=1}^{min(l,k)} 2^j C(l, j) C(k-1, j-1)). N(3,3) = 38,
// N(5,4) = 450, N(9,9) = 864146, N(l,1) = 2l.
//
// Order (Fischer 1986, as Opus's celt/cwrs.c enumerates). Points are ordered by their first coordinate p_0 in
// the sequence 0, +1, -1, +2, -2, ..., then recursively by the rest (a point of P(l-1, k-|p_0|)). Hence
//   index(p) = [p_0 != 0] N(l-1, k) + 2 sum_{j=1}^{|p_0|-1} N(l-1, k-j) + [p_0 < 0] N(l-1, k-|p_0|)
//              + index(p_1..p_{l-1}),
// and the last coordinate, when it is reached with k > 0 pulses left, is +k (index 0) or -k
// (index 1). Decoding walks the same blocks, subtracting block sizes from the index.
//
// A PyramidTable holds N(l, k) for 0 <= l <= D, 0 <= k <= K as fixed-width multi-word integers
// (bigint.h) of `words()` words, enough for N(D, K), the largest entry. Tables are immutable and
// shared through a process-wide cache, built once per (D, K).
#ifndef QUANTD_CORE_PVQ_PVQ_INDEX_H_
#define QUANTD_CORE_PVQ_PVQ_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/pvq/bigint.h"

namespace quantd::pvq_internal {

// Bits of an index of P(d, k): ceil(log2 N(d, k)), computed exactly (0 for k == 0). Returns -1
// when N(d, k) >= 2^kMaxIndexBits, i.e. when the count would not fit the widest supported type.
// REQUIRES: d >= 1, k >= 0.
int PyramidIndexBits(int d, int k);

// Index bits for every (l, k) with 1 <= l <= d, 0 <= k <= kmax, row-major [l-1][k], -1 where
// the count reaches 2^kMaxIndexBits. One pass of the recurrence; used to choose K.
std::vector<int> PyramidIndexBitsTable(int d, int kmax);

// Words needed to hold every N(l, k) of a (d, k) table, 1..kMaxIndexWords.
// REQUIRES: PyramidIndexBits(d, k) >= 0.
int PyramidWords(int d, int k);

// A counting table's entries by address: N(l, k) is the `words` words at
// data + (l (max_pulses + 1) + k) words. What code that also runs on CUDA devices reads (the
// kernels get the table copied to device memory).
struct PyramidCounts {
  const uint64_t* data = nullptr;
  int max_pulses = 0;
  int words = 0;

  // N(l, k) as a W-word integer. REQUIRES: W >= words.
  template <int W>
  QUANTD_HOST_DEVICE BigUint<W> CountAs(int l, int k) const {
    const uint64_t* at =
        data + (static_cast<size_t>(l) * static_cast<size_t>(max_pulses + 1) + static_cast<size_t>(k)) *
                   static_cast<size_t>(words);
    return W == words ? BigUint<W>::Load(at) : BigUint<W>::LoadWidened(at, words);
  }
};

class PyramidTable {
 public:
  // REQUIRES: 1 <= d, 0 <= k, PyramidIndexBits(d, k) >= 0.
  PyramidTable(int d, int k);

  int max_dim() const { return d_; }
  int max_pulses() const { return k_; }
  int words() const { return words_; }
  // N(l, k) as words() little-endian words. REQUIRES: 0 <= l <= max_dim(), 0 <= k <= max_pulses().
  const uint64_t* Count(int l, int k) const {
    return data_.data() + (static_cast<size_t>(l) * static_cast<size_t>(k_ + 1) + static_cast<size_t>(k)) *
                              static_cast<size_t>(words_);
  }
  // N(l, k) as a W-word integer. REQUIRES: W >= words() (the kernels use W == words()).
  template <int W>
  BigUint<W> CountAs(int l, int k) const {
    return counts().CountAs<W>(l, k);
  }
  // Every entry, (max_dim() + 1) (max_pulses() + 1) words() words.
  PyramidCounts counts() const { return {data_.data(), k_, words_}; }
  size_t size_words() const { return data_.size(); }

 private:
  int d_, k_, words_;
  std::vector<uint64_t> data_;
};

// Largest counting table quantd builds: parameters needing more are refused (MakeLayout), so a
// small request cannot make the process allocate hundreds of MiB. 64 MiB holds D = 256 with
// K = 8191 at 512-bit indices, far past any useful rate.
inline constexpr uint64_t kMaxPyramidTableBytes = uint64_t{64} << 20;
// The cached tables together stay under this (least recently used evicted first).
inline constexpr uint64_t kPyramidCacheBytes = uint64_t{256} << 20;

// Bytes of the table for (d, k) whose largest index has `index_bits` bits.
inline uint64_t PyramidTableBytes(int d, int k, int index_bits) {
  const uint64_t words = index_bits <= 64 ? 1 : (static_cast<uint64_t>(index_bits) + 63) / 64;
  return (static_cast<uint64_t>(d) + 1) * (static_cast<uint64_t>(k) + 1) * words * 8;
}

// The shared table for (d, k) (built on first use). Thread-safe.
std::shared_ptr<const PyramidTable> GetPyramidTable(int d, int k);

// Index of p (d coordinates, sum |p_i| == k) in [0, N(d, k)). REQUIRES: W >= t.words,
// d <= the table's max_dim(), k <= t.max_pulses, p on the pyramid.
template <int W>
QUANTD_HOST_DEVICE BigUint<W> EncodePyramid(const PyramidCounts& t, const int32_t* p, int d, int k) {
  BigUint<W> index = BigUint<W>::Zero();
  for (int i = 0; i < d && k > 0; ++i) {
    const int l = d - i;
    const int a = p[i] < 0 ? -p[i] : p[i];
    if (a == 0) continue;
    index.Add(t.CountAs<W>(l - 1, k));  // every point with p_i == 0
    for (int j = 1; j < a; ++j) {       // both signs of every smaller magnitude
      const BigUint<W> n = t.CountAs<W>(l - 1, k - j);
      index.Add(n);
      index.Add(n);
    }
    if (p[i] < 0) index.Add(t.CountAs<W>(l - 1, k - a));  // the +a block
    k -= a;
  }
  return index;
}
template <int W>
BigUint<W> EncodePyramid(const PyramidTable& t, const int32_t* p, int d, int k) {
  return EncodePyramid<W>(t.counts(), p, d, k);
}

// Inverse of EncodePyramid: writes d coordinates to p. Returns false (p unspecified) when
// index >= N(d, k), which only a malformed encoding can contain.
template <int W>
bool DecodePyramid(const PyramidTable& t, BigUint<W> index, int d, int k, int32_t* p) {
  if (!(index < t.CountAs<W>(d, k))) return false;
  int i = 0;
  for (; i < d && k > 0; ++i) {
    const int l = d - i;
    if (l == 1) {  // the last coordinate takes every remaining pulse
      p[i] = index.IsZero() ? k : -k;
      k = 0;
      continue;
    }
    if (!index.TrySub(t.CountAs<W>(l - 1, k))) {
      p[i] = 0;
      continue;
    }
    int j = 1;
    for (;; ++j) {
      const BigUint<W> n = t.CountAs<W>(l - 1, k - j);
      if (!index.TrySub(n)) {
        p[i] = j;
        break;
      }
      if (!index.TrySub(n)) {
        p[i] = -j;
        break;
      }
    }
    k -= j;
  }
  for (; i < d; ++i) p[i] = 0;
  return true;
}

// Calls f(std::integral_constant<int, W>{}) with the compile-time width W == words
// (1..kMaxIndexWords): the entry point from runtime widths into the templated kernels.
template <typename F>
decltype(auto) DispatchWords(int words, F&& f) {
  switch (words) {
#define QUANTD_PVQ_WORDS_CASE(n) \
  case n:                        \
    return f(std::integral_constant<int, n>{});
    QUANTD_PVQ_WORDS_CASE(1)
    QUANTD_PVQ_WORDS_CASE(2)
    QUANTD_PVQ_WORDS_CASE(3)
    QUANTD_PVQ_WORDS_CASE(4)
    QUANTD_PVQ_WORDS_CASE(5)
    QUANTD_PVQ_WORDS_CASE(6)
    QUANTD_PVQ_WORDS_CASE(7)
    QUANTD_PVQ_WORDS_CASE(8)
    QUANTD_PVQ_WORDS_CASE(9)
    QUANTD_PVQ_WORDS_CASE(10)
    QUANTD_PVQ_WORDS_CASE(11)
    QUANTD_PVQ_WORDS_CASE(12)
    QUANTD_PVQ_WORDS_CASE(13)
    QUANTD_PVQ_WORDS_CASE(14)
    QUANTD_PVQ_WORDS_CASE(15)
#undef QUANTD_PVQ_WORDS_CASE
    default:
      return f(std::integral_constant<int, kMaxIndexWords>{});
  }
}

}  // namespace quantd::pvq_internal

#endif  // QUANTD_CORE_PVQ_PVQ_INDEX_H_
