// Reference RTN kernels: the definition in rtn.h, written as plainly as possible.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/common/bitpack.h"
#include "core/rtn/rtn.h"

namespace quantd::rtn_internal {

bool EncodeRowRef(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, uint8_t* scales) {
  const int half = 1 << (o.bits - 1);
  const size_t scale_size = DTypeSize(o.scale_dtype);
  std::vector<uint32_t> q(static_cast<size_t>(cols));
  bool finite = true;
  for (int64_t g0 = 0, gi = 0; g0 < cols; g0 += o.group_size, ++gi) {
    const int64_t g1 = std::min(cols, g0 + o.group_size);
    float m = 0;
    for (int64_t i = g0; i < g1; ++i) {
      if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
    }
    const float d = StoreScalar(m / static_cast<float>(-half), o.scale_dtype, scales + gi * scale_size);
    finite = finite && std::isfinite(d);
    for (int64_t i = g0; i < g1; ++i) {
      long v = 0;
      if (d != 0) {
        v = std::lrint(std::nearbyint(x[i] / d));
        v = std::max<long>(-half, std::min<long>(half - 1, v));
      }
      q[i] = static_cast<uint32_t>(v + half);
    }
  }
  PackBits(q, o.bits, std::span<uint8_t>(codes, PackedBytes(cols, o.bits)));
  return finite;
}

void DecodeRowRef(const uint8_t* codes, const uint8_t* scales, int64_t cols, const RtnOptions& o,
                  float* out) {
  const int half = 1 << (o.bits - 1);
  const size_t scale_size = DTypeSize(o.scale_dtype);
  std::vector<uint32_t> q(static_cast<size_t>(cols));
  UnpackBits(std::span<const uint8_t>(codes, PackedBytes(cols, o.bits)), o.bits, q);
  for (int64_t i = 0; i < cols; ++i) {
    const float d = LoadScalar(scales + (i / o.group_size) * scale_size, o.scale_dtype);
    out[i] = static_cast<float>(static_cast<int>(q[i]) - half) * d;
  }
}

}  // namespace quantd::rtn_internal
