#include "quantd/core/bitpack.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace quantd {

void PackBits(std::span<const uint32_t> codes, int bits, std::span<uint8_t> out) {
  assert(bits >= 1 && bits <= 32);
  assert(out.size() >= PackedBytes(codes.size(), bits));
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t acc = 0;  // pending bits, least significant first
  int have = 0;      // number of pending bits (< 8 between codes)
  size_t o = 0;
  for (uint32_t c : codes) {
    acc |= (static_cast<uint64_t>(c) & mask) << have;
    have += bits;
    while (have >= 8) {
      out[o++] = static_cast<uint8_t>(acc);
      acc >>= 8;
      have -= 8;
    }
  }
  if (have > 0) out[o] = static_cast<uint8_t>(acc);
}

void UnpackBits(std::span<const uint8_t> in, int bits, std::span<uint32_t> codes) {
  assert(bits >= 1 && bits <= 32);
  assert(in.size() >= PackedBytes(codes.size(), bits));
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t acc = 0;
  int have = 0;
  size_t i = 0;
  for (uint32_t& c : codes) {
    while (have < bits) {
      acc |= static_cast<uint64_t>(in[i++]) << have;
      have += 8;
    }
    c = static_cast<uint32_t>(acc & mask);
    acc >>= bits;
    have -= bits;
  }
}

void BitWriter::Put(uint64_t value, int bits) {
  for (int done = 0; done < bits;) {
    const size_t byte = pos_ >> 3;
    const int off = static_cast<int>(pos_ & 7);
    const int take = std::min(8 - off, bits - done);
    const uint8_t part = static_cast<uint8_t>((value >> done) & ((1u << take) - 1u));
    out_[byte] = static_cast<uint8_t>((out_[byte] & ((1u << off) - 1u)) | (part << off));
    done += take;
    pos_ += take;
  }
}

uint64_t BitReader::Get(int bits) {
  uint64_t v = 0;
  for (int done = 0; done < bits;) {
    const size_t byte = pos_ >> 3;
    const int off = static_cast<int>(pos_ & 7);
    const int take = std::min(8 - off, bits - done);
    const uint64_t b = byte < in_.size() ? in_[byte] : 0;
    v |= ((b >> off) & ((1u << take) - 1u)) << done;
    done += take;
    pos_ += take;
  }
  return v;
}

}  // namespace quantd
