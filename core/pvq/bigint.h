// File: bigint.h
//
// `quantd::pvq_internal::BigUint<W>`: a fixed-width unsigned integer of W 64-bit words, the type
// of PVQ indices and of the counting table N(l, k) (pvq_index.h).
//
// PVQ indices exceed 64 bits as soon as the group size and the rate grow (N(64, 97) has 193
// bits), but enumeration needs only addition, subtraction and comparison, so a small
// fixed-size type on the stack is enough: no allocation, no dependency (the core may not use
// GMP or Boost), and loops the compiler unrolls because W is a constant. What enumeration uses
// also compiles for CUDA devices (the PVQ kernels). Values are taken modulo
// 2^(64 W); the callers size W so that nothing they store overflows. Words are little-endian
// (w[0] holds the least significant 64 bits), which is also the bit order of the packed
// bitstream, so reading and writing an index is a word copy.
//
//   BigUint<4> a = BigUint<4>::FromU64(5), b = BigUint<4>::FromU64(3);
//   a.Add(b);              // a == 8
//   bool took = a.TrySub(b);  // a == 5, took == true
#ifndef QUANTD_CORE_PVQ_BIGINT_H_
#define QUANTD_CORE_PVQ_BIGINT_H_

#include <cstdint>

#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

namespace quantd::pvq_internal {

// The widest index the PVQ code supports: 16 words, 1024 bits.
inline constexpr int kMaxIndexWords = 16;
inline constexpr int kMaxIndexBits = 64 * kMaxIndexWords;

template <int W>
struct BigUint {
  static_assert(W >= 1, "at least one word");
  uint64_t w[W];

  QUANTD_HOST_DEVICE static constexpr BigUint Zero() {
    BigUint r{};
    return r;
  }
  QUANTD_HOST_DEVICE static constexpr BigUint FromU64(uint64_t v) {
    BigUint r{};
    r.w[0] = v;
    return r;
  }
  // Loads W words from `words` (little-endian word order).
  QUANTD_HOST_DEVICE static BigUint Load(const uint64_t* words) {
    BigUint r;
    for (int i = 0; i < W; ++i) r.w[i] = words[i];
    return r;
  }
  // Loads `count` <= W words and zero-extends them.
  QUANTD_HOST_DEVICE static BigUint LoadWidened(const uint64_t* words, int count) {
    BigUint r{};
    for (int i = 0; i < count; ++i) r.w[i] = words[i];
    return r;
  }
  QUANTD_HOST_DEVICE void Store(uint64_t* words) const {
    for (int i = 0; i < W; ++i) words[i] = w[i];
  }

  QUANTD_HOST_DEVICE bool IsZero() const {
    uint64_t acc = 0;
    for (int i = 0; i < W; ++i) acc |= w[i];
    return acc == 0;
  }

  // Number of significant bits (0 for zero).
  int BitLength() const {
    for (int i = W - 1; i >= 0; --i) {
      if (w[i] != 0) return 64 * i + 64 - __builtin_clzll(w[i]);
    }
    return 0;
  }

  // *this += b; returns the carry out of the top word.
  QUANTD_HOST_DEVICE uint64_t Add(const BigUint& b) {
    uint64_t carry = 0;
    for (int i = 0; i < W; ++i) {
      const uint64_t s = w[i] + b.w[i];
      const uint64_t c1 = s < w[i];
      w[i] = s + carry;
      carry = c1 | (w[i] < s);
    }
    return carry;
  }

  // *this -= b (mod 2^(64W)); returns the borrow out of the top word (1 when b > *this).
  QUANTD_HOST_DEVICE uint64_t Sub(const BigUint& b) {
    uint64_t borrow = 0;
    for (int i = 0; i < W; ++i) {
      const uint64_t d = w[i] - b.w[i];
      const uint64_t b1 = w[i] < b.w[i];
      w[i] = d - borrow;
      borrow = b1 | (d < borrow);
    }
    return borrow;
  }

  // If b <= *this, subtracts b and returns true; otherwise leaves *this unchanged and returns
  // false. One pass: the difference is computed with its borrow and kept only when there is
  // none (the decoder's inner step).
  QUANTD_HOST_DEVICE bool TrySub(const BigUint& b) {
    BigUint d = *this;
    if (d.Sub(b) != 0) return false;
    *this = d;
    return true;
  }

  // *this = *this * m + add; returns the word carried out of the top.
  uint64_t MulAdd(uint64_t m, uint64_t add) {
    uint64_t carry = add;
    for (int i = 0; i < W; ++i) {
      const unsigned __int128 p = static_cast<unsigned __int128>(w[i]) * m + carry;
      w[i] = static_cast<uint64_t>(p);
      carry = static_cast<uint64_t>(p >> 64);
    }
    return carry;
  }

  // Bits [pos, pos + count) of the value, count <= 64.
  uint64_t Bits(int pos, int count) const {
    const int i = pos >> 6, s = pos & 63;
    uint64_t v = i < W ? w[i] >> s : 0;
    if (s != 0 && i + 1 < W) v |= w[i + 1] << (64 - s);
    return count == 64 ? v : v & ((uint64_t{1} << count) - 1);
  }

  QUANTD_HOST_DEVICE friend int Compare(const BigUint& a, const BigUint& b) {
    for (int i = W - 1; i >= 0; --i) {
      if (a.w[i] != b.w[i]) return a.w[i] < b.w[i] ? -1 : 1;
    }
    return 0;
  }
  QUANTD_HOST_DEVICE friend bool operator==(const BigUint& a, const BigUint& b) { return Compare(a, b) == 0; }
  QUANTD_HOST_DEVICE friend bool operator<(const BigUint& a, const BigUint& b) { return Compare(a, b) < 0; }
  QUANTD_HOST_DEVICE friend bool operator<=(const BigUint& a, const BigUint& b) { return Compare(a, b) <= 0; }
};

}  // namespace quantd::pvq_internal

#endif  // QUANTD_CORE_PVQ_BIGINT_H_
