// The fixed-width integers and the pyramid enumeration: known counts, the closed form on big
// values, exact bijection (exhaustive for small pyramids, random with multi-word indices for
// large ones), and rejection of out-of-range indices.
#include "core/pvq/pvq_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "core/pvq/bigint.h"

namespace quantd::pvq_internal {
namespace {

using Big = BigUint<kMaxIndexWords>;

Big Count(int d, int k) {
  auto t = GetPyramidTable(d, k);
  return Big::LoadWidened(t->Count(d, k), t->words());
}

// r = a * b (mod 2^1024), schoolbook from the top word down.
Big Mul(const Big& a, const Big& b) {
  Big r = Big::Zero();
  for (int i = kMaxIndexWords - 1; i >= 0; --i) {
    for (int j = kMaxIndexWords - 1; j > 0; --j) r.w[j] = r.w[j - 1];  // r *= 2^64
    r.w[0] = 0;
    Big part = a;
    part.MulAdd(b.w[i], 0);
    r.Add(part);
  }
  return r;
}

// Pascal's triangle rows 0..n as big integers.
std::vector<std::vector<Big>> Binomials(int n) {
  std::vector<std::vector<Big>> c(static_cast<size_t>(n) + 1);
  for (int i = 0; i <= n; ++i) {
    c[i].assign(static_cast<size_t>(i) + 1, Big::FromU64(1));
    for (int j = 1; j < i; ++j) {
      c[i][j] = c[i - 1][j - 1];
      c[i][j].Add(c[i - 1][j]);
    }
  }
  return c;
}

TEST(BigUintTest, CarriesBorrowsAndComparisons) {
  BigUint<3> a = BigUint<3>::FromU64(~uint64_t{0});
  EXPECT_EQ(a.Add(BigUint<3>::FromU64(1)), 0u);
  EXPECT_EQ(a.w[0], 0u);
  EXPECT_EQ(a.w[1], 1u);
  EXPECT_EQ(a.BitLength(), 65);
  BigUint<3> b = a;
  EXPECT_FALSE(b.TrySub(BigUint<3>{{1, 1, 0}}));  // 2^64 - (2^64 + 1) < 0: unchanged
  EXPECT_EQ(b, a);
  EXPECT_TRUE(b.TrySub(BigUint<3>::FromU64(1)));
  EXPECT_EQ(b.w[0], ~uint64_t{0});
  EXPECT_EQ(b.w[1], 0u);
  EXPECT_TRUE(b < a);
  EXPECT_EQ(Compare(a, b), 1);
  BigUint<2> top{{0, ~uint64_t{0}}};
  EXPECT_EQ(top.Add(BigUint<2>{{0, 1}}), 1u);  // carry out of the top word
  BigUint<2> zero = BigUint<2>::Zero();
  EXPECT_EQ(zero.Sub(BigUint<2>::FromU64(1)), 1u);  // borrow out; value wraps
  EXPECT_EQ(zero.w[1], ~uint64_t{0});
  BigUint<2> m = BigUint<2>::FromU64(uint64_t{1} << 63);
  EXPECT_EQ(m.MulAdd(4, 3), 0u);
  EXPECT_EQ(m.w[0], 3u);
  EXPECT_EQ(m.w[1], 2u);
  EXPECT_EQ(m.Bits(62, 4), 0x8u);  // bits 62..65 of 2^65 + 3
  EXPECT_EQ(m.Bits(0, 2), 3u);
}

TEST(PyramidIndexTest, KnownCounts) {
  EXPECT_EQ(Count(3, 3), Big::FromU64(38));
  EXPECT_EQ(Count(5, 4), Big::FromU64(450));
  EXPECT_EQ(Count(9, 9), Big::FromU64(864146));
  for (int d = 1; d <= 256; ++d) ASSERT_EQ(Count(d, 1), Big::FromU64(2 * d)) << d;
  EXPECT_EQ(Count(7, 0), Big::FromU64(1));
  // ceil(log2 N) against the known values (log2 N: 9.4, 33.2, 96.5, 192.7, 512.2, 1024.2).
  EXPECT_EQ(PyramidIndexBits(8, 3), 10);
  EXPECT_EQ(PyramidIndexBits(16, 13), 34);
  EXPECT_EQ(PyramidIndexBits(32, 51), 97);
  EXPECT_EQ(PyramidIndexBits(64, 97), 193);
  EXPECT_EQ(PyramidIndexBits(128, 387), 513);
  EXPECT_EQ(PyramidIndexBits(256, 761), -1);  // N > 2^1024: beyond the widest index
  EXPECT_EQ(PyramidIndexBits(3, 3), 6);       // 38 -> 6 bits
  EXPECT_EQ(PyramidIndexBits(1, 5), 1);       // +5 or -5
  EXPECT_EQ(PyramidWords(64, 97), 4);
  EXPECT_EQ(PyramidWords(9, 9), 1);
}

// N(D, K) = sum_{j=1}^{min(D,K)} 2^j C(D, j) C(K-1, j-1), on counts of hundreds of bits.
TEST(PyramidIndexTest, TableMatchesClosedForm) {
  const auto c = Binomials(400);
  const int cases[][2] = {{32, 400}, {64, 400}, {128, 400}, {256, 300}, {200, 17}, {5, 400}};
  for (const auto& dk : cases) {
    const int d = dk[0], k = dk[1];
    Big sum = Big::Zero();
    for (int j = 1; j <= std::min(d, k); ++j) {
      Big term = Mul(c[d][j], c[k - 1][j - 1]);
      for (int s = 0; s < j; ++s) term.Add(Big(term));  // * 2^j
      sum.Add(term);
    }
    EXPECT_EQ(Count(d, k), sum) << "N(" << d << ", " << k << ")";
    if (d >= 32) {
      EXPECT_GT(sum.BitLength(), 64) << d << " " << k;
    }
  }
}

// The enumeration order of docs/FORMAT.md on P(2, 1): p_0 = 0 first, then +1, then -1.
TEST(PyramidIndexTest, OrderOfTheSmallestPyramid) {
  auto t = GetPyramidTable(2, 1);
  const int32_t expected[4][2] = {{0, 1}, {0, -1}, {1, 0}, {-1, 0}};
  for (uint64_t i = 0; i < 4; ++i) {
    int32_t p[2];
    ASSERT_TRUE(DecodePyramid<1>(*t, BigUint<1>::FromU64(i), 2, 1, p));
    EXPECT_EQ(p[0], expected[i][0]);
    EXPECT_EQ(p[1], expected[i][1]);
    EXPECT_EQ(EncodePyramid<1>(*t, expected[i], 2, 1).w[0], i);
  }
}

// Every index of every P(D, K), D <= 5, K <= 6, decodes to a distinct point with sum |p| = K
// that encodes back to the same index; N + 1 indices would need a repeat, so this is a
// bijection onto the pyramid.
TEST(PyramidIndexTest, ExhaustiveBijectionOnSmallPyramids) {
  for (int d = 1; d <= 5; ++d) {
    for (int k = 0; k <= 6; ++k) {
      auto t = GetPyramidTable(d, k);
      const uint64_t n = t->Count(d, k)[0];
      std::set<std::vector<int32_t>> seen;
      for (uint64_t i = 0; i < n; ++i) {
        std::vector<int32_t> p(static_cast<size_t>(d));
        ASSERT_TRUE(DecodePyramid<1>(*t, BigUint<1>::FromU64(i), d, k, p.data()));
        int sum = 0;
        for (int32_t v : p) sum += std::abs(v);
        ASSERT_EQ(sum, k);
        ASSERT_EQ(EncodePyramid<1>(*t, p.data(), d, k).w[0], i) << "d=" << d << " k=" << k;
        seen.insert(p);
      }
      EXPECT_EQ(seen.size(), n);
      int32_t p[5];
      EXPECT_FALSE(DecodePyramid<1>(*t, BigUint<1>::FromU64(n), d, k, p)) << "index N must be rejected";
    }
  }
}

// A uniformly random point of P(D, K): K pulses dropped on random coordinates, random signs.
std::vector<int32_t> RandomPoint(int d, int k, std::mt19937_64& rng) {
  std::vector<int32_t> p(static_cast<size_t>(d), 0);
  std::uniform_int_distribution<int> coord(0, d - 1);
  for (int i = 0; i < k; ++i) ++p[coord(rng)];
  for (int32_t& v : p) {
    if (rng() & 1) v = -v;
  }
  return p;
}

template <int W>
void RoundTripRandom(int d, int k, std::mt19937_64& rng) {
  auto t = GetPyramidTable(d, k);
  ASSERT_LE(t->words(), W);
  const BigUint<W> n = t->CountAs<W>(d, k);
  for (int trial = 0; trial < 200; ++trial) {
    // point -> index -> point
    const std::vector<int32_t> p = RandomPoint(d, k, rng);
    const BigUint<W> index = EncodePyramid<W>(*t, p.data(), d, k);
    ASSERT_TRUE(index < n);
    std::vector<int32_t> back(static_cast<size_t>(d));
    ASSERT_TRUE(DecodePyramid<W>(*t, index, d, k, back.data()));
    ASSERT_EQ(back, p) << "d=" << d << " k=" << k;
    // random index below N -> point -> index
    BigUint<W> r;
    const int bits = n.BitLength();
    do {
      for (int i = 0; i < W; ++i) r.w[i] = 64 * i < bits ? rng() : 0;
      if (bits % 64 != 0) r.w[(bits - 1) / 64] &= (uint64_t{1} << (bits % 64)) - 1;
    } while (!(r < n));
    ASSERT_TRUE(DecodePyramid<W>(*t, r, d, k, back.data()));
    ASSERT_EQ(EncodePyramid<W>(*t, back.data(), d, k), r);
  }
  // The largest index and the first invalid one.
  BigUint<W> last = n;
  last.Sub(BigUint<W>::FromU64(1));
  std::vector<int32_t> p(static_cast<size_t>(d));
  EXPECT_TRUE(DecodePyramid<W>(*t, last, d, k, p.data()));
  EXPECT_EQ(EncodePyramid<W>(*t, p.data(), d, k), last);
  EXPECT_FALSE(DecodePyramid<W>(*t, n, d, k, p.data()));
}

TEST(PyramidIndexTest, RandomRoundTripsWithMultiWordIndices) {
  std::mt19937_64 rng(17);
  for (int d : {32, 64, 128}) {
    for (int k : {1, 7, 50, 97, 200, 400}) {
      const int words = PyramidWords(d, k);
      DispatchWords(words, [&](auto wc) { RoundTripRandom<decltype(wc)::value>(d, k, rng); });
      if (d == 128 && k == 400) {
        EXPECT_EQ(words, 9);
      }
    }
  }
}

// A wider type than the table needs gives the same indices (the width only bounds the values).
TEST(PyramidIndexTest, WidthDoesNotChangeIndices) {
  std::mt19937_64 rng(3);
  auto t = GetPyramidTable(32, 60);
  ASSERT_EQ(t->words(), 2);
  for (int trial = 0; trial < 50; ++trial) {
    const std::vector<int32_t> p = RandomPoint(32, 60, rng);
    const BigUint<2> a = EncodePyramid<2>(*t, p.data(), 32, 60);
    const BigUint<5> b = EncodePyramid<5>(*t, p.data(), 32, 60);
    EXPECT_EQ(BigUint<5>::LoadWidened(a.w, 2), b);
  }
}

}  // namespace
}  // namespace quantd::pvq_internal
