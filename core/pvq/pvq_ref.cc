// Reference PVQ row coding: the definitions in pvq.h and pvq_index.h, written as plainly as
// possible. The enumeration follows the paper's pseudocode (a running `base` compared against
// the index) on the widest integer type, and the bits go through bitpack.h's BitWriter and
// BitReader. The fast path (pvq.cc) must produce and accept exactly the same bytes.
#include <cmath>

#include "core/common/bitpack.h"
#include "core/pvq/pvq.h"

namespace quantd::pvq_internal {
namespace {

using RefIndex = BigUint<kMaxIndexWords>;

RefIndex N(const PyramidTable& t, int l, int k) { return RefIndex::LoadWidened(t.Count(l, k), t.words()); }

RefIndex EncodeRef(const PyramidTable& t, const int32_t* p, int d, int k) {
  RefIndex b = RefIndex::Zero();
  int l = d;
  for (int i = 0; i < d; ++i) {
    const int a = std::abs(p[i]);
    if (a > 0) {
      b.Add(N(t, l - 1, k));         // skip every point with p_i = 0
      for (int j = 1; j < a; ++j) {  // skip magnitudes 1 .. a-1, both signs
        b.Add(N(t, l - 1, k - j));
        b.Add(N(t, l - 1, k - j));
      }
      if (p[i] < 0) b.Add(N(t, l - 1, k - a));  // skip the "+a" block
    }
    k -= a;
    l -= 1;
    if (k == 0) break;
  }
  return b;
}

bool DecodeRef(const PyramidTable& t, const RefIndex& b, int d, int k, int32_t* x) {
  if (!(b < N(t, d, k))) return false;
  for (int i = 0; i < d; ++i) x[i] = 0;
  RefIndex base = RefIndex::Zero();
  int l = d;
  for (int i = 0; k > 0; ++i, --l) {
    if (l == 1) {  // the last coordinate takes the remaining pulses
      x[i] = b == base ? k : -k;
      break;
    }
    RefIndex end = base;
    end.Add(N(t, l - 1, k));
    if (b < end) continue;  // x_i = 0
    base = end;
    int j = 1;
    for (;;) {
      RefIndex two = base;
      two.Add(N(t, l - 1, k - j));
      two.Add(N(t, l - 1, k - j));
      if (b < two) break;
      base = two;
      ++j;
    }
    RefIndex plus = base;
    plus.Add(N(t, l - 1, k - j));
    if (b < plus) {
      x[i] = j;
    } else {
      x[i] = -j;
      base = plus;
    }
    k -= j;
  }
  return true;
}

}  // namespace

void PackRowRef(const int32_t* p, const uint8_t* gain_codes, const RowCodec& c, uint8_t* out) {
  const PvqLayout& lay = c.layout;
  BitWriter w(std::span<uint8_t>(out, static_cast<size_t>(lay.row_bytes)));
  int64_t col = 0;
  for (int64_t g = 0; g < lay.groups(); ++g) {
    const int len = lay.GroupLength(g);
    if (lay.gain_bits > 0) w.Put(gain_codes[g], lay.gain_bits);
    const RefIndex index = EncodeRef(*c.table, p + col, len, lay.GroupPulses(g));
    for (int bit = 0; bit < lay.GroupIndexBits(g); bit += 64) {
      const int n = std::min(64, lay.GroupIndexBits(g) - bit);
      w.Put(index.Bits(bit, n), n);
    }
    col += len;
  }
}

bool UnpackRowRef(const uint8_t* in, const RowCodec& c, int32_t* p, uint8_t* gain_codes) {
  const PvqLayout& lay = c.layout;
  BitReader r(std::span<const uint8_t>(in, static_cast<size_t>(lay.row_bytes)));
  int64_t col = 0;
  for (int64_t g = 0; g < lay.groups(); ++g) {
    const int len = lay.GroupLength(g);
    gain_codes[g] = lay.gain_bits > 0 ? static_cast<uint8_t>(r.Get(lay.gain_bits)) : 0;
    RefIndex index = RefIndex::Zero();
    for (int bit = 0; bit < lay.GroupIndexBits(g); bit += 64) {
      const int n = std::min(64, lay.GroupIndexBits(g) - bit);
      index.w[bit / 64] = r.Get(n);
    }
    if (!DecodeRef(*c.table, index, len, lay.GroupPulses(g), p + col)) return false;
    col += len;
  }
  return true;
}

void ReconstructGroup(const int32_t* p, int len, float scale, std::span<const float> levels, uint8_t code,
                      float* out) {
  int64_t sumsq = 0;
  for (int i = 0; i < len; ++i) sumsq += static_cast<int64_t>(p[i]) * p[i];
  double gain = static_cast<double>(scale);
  if (!levels.empty()) gain *= static_cast<double>(levels[code]);
  const float s = static_cast<float>(gain / std::sqrt(static_cast<double>(sumsq)));
  for (int i = 0; i < len; ++i) out[i] = static_cast<float>(p[i]) * s;
}

bool DecodeRotatedRowRef(const uint8_t* stream, float scale, const RowCodec& c, float* out) {
  const PvqLayout& lay = c.layout;
  std::vector<int32_t> p(static_cast<size_t>(lay.cols));
  std::vector<uint8_t> codes(static_cast<size_t>(lay.groups()));
  if (!UnpackRowRef(stream, c, p.data(), codes.data())) return false;
  int64_t col = 0;
  for (int64_t g = 0; g < lay.groups(); ++g) {
    ReconstructGroup(p.data() + col, lay.GroupLength(g), scale, c.LevelsOf(g), codes[g], out + col);
    col += lay.GroupLength(g);
  }
  return true;
}

}  // namespace quantd::pvq_internal
