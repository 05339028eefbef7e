#include "core/pvq/pvq_index.h"

#include <cassert>
#include <deque>
#include <mutex>

namespace quantd::pvq_internal {
namespace {

// One word wider than any stored count, so that a count reaching 2^kMaxIndexBits is seen.
using WideCount = BigUint<kMaxIndexWords + 1>;

// Counts at or beyond 2^kMaxIndexBits are clamped to exactly 2^kMaxIndexBits, so that the
// recurrence never overflows the wide type however far it runs.
void Saturate(WideCount& v) {
  if (v.w[kMaxIndexWords] != 0) {
    v = WideCount::Zero();
    v.w[kMaxIndexWords] = 1;
  }
}

int BitsOf(const WideCount& n) {
  if (n.w[kMaxIndexWords] != 0) return -1;
  WideCount m = n;
  m.Sub(WideCount::FromU64(1));  // ceil(log2 n) is the bit length of n - 1 (n >= 1)
  return m.BitLength();
}

// Advances column k-1 of the counts (prev[l] = N(l, k-1), l = 0..d) to column k.
void NextColumn(const std::vector<WideCount>& prev, std::vector<WideCount>& next) {
  next[0] = WideCount::Zero();
  for (size_t l = 1; l < next.size(); ++l) {
    next[l] = next[l - 1];
    next[l].Add(prev[l - 1]);
    next[l].Add(prev[l]);
    Saturate(next[l]);
  }
}

}  // namespace

std::vector<int> PyramidIndexBitsTable(int d, int kmax) {
  assert(d >= 1 && kmax >= 0);
  std::vector<int> bits(static_cast<size_t>(d) * static_cast<size_t>(kmax + 1));
  std::vector<WideCount> col(static_cast<size_t>(d) + 1, WideCount::FromU64(1)), next(col.size());
  for (int k = 0; k <= kmax; ++k) {
    if (k > 0) {
      NextColumn(col, next);
      col.swap(next);
    }
    for (int l = 1; l <= d; ++l) {
      bits[static_cast<size_t>(l - 1) * static_cast<size_t>(kmax + 1) + static_cast<size_t>(k)] =
          BitsOf(col[l]);
    }
  }
  return bits;
}

int PyramidIndexBits(int d, int k) {
  assert(d >= 1 && k >= 0);
  std::vector<WideCount> col(static_cast<size_t>(d) + 1, WideCount::FromU64(1)), next(col.size());
  for (int j = 1; j <= k; ++j) {
    NextColumn(col, next);
    col.swap(next);
    if (BitsOf(col[static_cast<size_t>(d)]) < 0) return -1;  // counts only grow with k
  }
  return BitsOf(col[static_cast<size_t>(d)]);
}

int PyramidWords(int d, int k) {
  std::vector<WideCount> col(static_cast<size_t>(d) + 1, WideCount::FromU64(1)), next(col.size());
  for (int j = 1; j <= k; ++j) {
    NextColumn(col, next);
    col.swap(next);
  }
  const int bits = col[static_cast<size_t>(d)].BitLength();
  assert(bits <= kMaxIndexBits);
  return bits <= 64 ? 1 : (bits + 63) / 64;
}

PyramidTable::PyramidTable(int d, int k) : d_(d), k_(k), words_(PyramidWords(d, k)) {
  const size_t w = static_cast<size_t>(words_);
  data_.assign(static_cast<size_t>(d + 1) * static_cast<size_t>(k + 1) * w, 0);
  auto at = [&](int l, int j) {
    return data_.data() + (static_cast<size_t>(l) * static_cast<size_t>(k + 1) + static_cast<size_t>(j)) * w;
  };
  // N(l, k) = N(l-1, k) + N(l-1, k-1) + N(l, k-1); every entry is <= N(d, k), so W words hold
  // every partial sum too (the recurrence only adds non-negative terms).
  DispatchWords(words_, [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    for (int l = 0; l <= d; ++l) BigUint<W>::FromU64(1).Store(at(l, 0));
    for (int l = 1; l <= d; ++l) {
      for (int j = 1; j <= k; ++j) {
        BigUint<W> n = BigUint<W>::Load(at(l - 1, j));
        n.Add(BigUint<W>::Load(at(l - 1, j - 1)));
        n.Add(BigUint<W>::Load(at(l, j - 1)));
        n.Store(at(l, j));
      }
    }
  });
}

std::shared_ptr<const PyramidTable> GetPyramidTable(int d, int k) {
  // A few tables are in use at a time (one per group size and K of the tensors in flight);
  // the cache is bounded so that decoding many differently parameterised encodings cannot grow
  // it without limit. Most recently used first.
  constexpr size_t kCapacity = 16;
  static std::mutex mu;
  static std::deque<std::shared_ptr<const PyramidTable>> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = cache.begin(); it != cache.end(); ++it) {
      if ((*it)->max_dim() == d && (*it)->max_pulses() == k) {
        auto hit = *it;
        cache.erase(it);
        cache.push_front(hit);
        return hit;
      }
    }
  }
  auto table = std::make_shared<const PyramidTable>(d, k);  // built outside the lock
  std::lock_guard<std::mutex> lock(mu);
  cache.push_front(table);
  uint64_t bytes = 0;
  for (const auto& t : cache) bytes += t->size_words() * 8;
  while (cache.size() > 1 && (cache.size() > kCapacity || bytes > kPyramidCacheBytes)) {
    bytes -= cache.back()->size_words() * 8;
    cache.pop_back();  // tables in use stay alive through their callers' references
  }
  return table;
}

}  // namespace quantd::pvq_internal
