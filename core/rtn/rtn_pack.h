// File: rtn_pack.h
//
// Byte-at-a-time bit packing shared by the CUDA packing kernel and its CPU test: byte k of a row
// packed at `bits` per code, computed from the codes it covers alone, so every output byte can
// be produced by its own thread. Gives exactly the bytes of PackBits (bitpack.h).
#ifndef QUANTD_CORE_RTN_RTN_PACK_H_
#define QUANTD_CORE_RTN_RTN_PACK_H_

#include <cstdint>

#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

namespace quantd::rtn_internal {

// Byte `k` of the packed stream of `count` codes (one per byte in `codes`) at `bits` bits.
QUANTD_HOST_DEVICE inline uint8_t PackedByte(const uint8_t* codes, int64_t count, int bits, int64_t k) {
  const int64_t first_bit = 8 * k;
  const int64_t first = first_bit / bits;
  const int64_t last = (first_bit + 7) / bits;  // inclusive
  uint32_t out = 0;
  for (int64_t c = first; c <= last && c < count; ++c) {
    const int64_t shift = c * bits - first_bit;  // may be negative for the first code
    const uint32_t v = codes[c];
    out |= shift >= 0 ? (v << shift) : (v >> -shift);
  }
  return static_cast<uint8_t>(out & 0xFF);
}

}  // namespace quantd::rtn_internal

#endif  // QUANTD_CORE_RTN_RTN_PACK_H_
