#include "core/common/bitpack.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace quantd {
namespace {

// The general packing loops, for codes held in uint32 or in bytes.
template <typename T>
void PackAny(std::span<const T> codes, int bits, std::span<uint8_t> out) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t acc = 0;  // pending bits, least significant first
  int have = 0;      // number of pending bits (< 8 between codes)
  size_t o = 0;
  for (T c : codes) {
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

template <typename T>
void UnpackAny(std::span<const uint8_t> in, int bits, std::span<T> codes) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t acc = 0;
  int have = 0;
  size_t i = 0;
  for (T& c : codes) {
    while (have < bits) {
      acc |= static_cast<uint64_t>(in[i++]) << have;
      have += 8;
    }
    c = static_cast<T>(acc & mask);
    acc >>= bits;
    have -= bits;
  }
}

}  // namespace

void PackBits(std::span<const uint32_t> codes, int bits, std::span<uint8_t> out) {
  assert(bits >= 1 && bits <= 32);
  assert(out.size() >= PackedBytes(codes.size(), bits));
  PackAny(codes, bits, out);
}

void UnpackBits(std::span<const uint8_t> in, int bits, std::span<uint32_t> codes) {
  assert(bits >= 1 && bits <= 32);
  assert(in.size() >= PackedBytes(codes.size(), bits));
  UnpackAny(in, bits, codes);
}

void PackByteCodes(std::span<const uint8_t> codes, int bits, std::span<uint8_t> out) {
  assert(bits >= 1 && bits <= 8);
  assert(out.size() >= PackedBytes(codes.size(), bits));
  const uint8_t* q = codes.data();
  const size_t n = codes.size();
  switch (bits) {
    case 8:
      if (n > 0) memcpy(out.data(), q, n);
      return;
    case 4:
      PackNibbles(q, n, out.data());
      return;
    case 2: {
      const size_t whole = n / 4;
      for (size_t b = 0; b < whole; ++b) {
        out[b] =
            static_cast<uint8_t>(q[4 * b] | (q[4 * b + 1] << 2) | (q[4 * b + 2] << 4) | (q[4 * b + 3] << 6));
      }
      if (n % 4 != 0) {
        uint8_t b = 0;
        for (size_t k = 0; 4 * whole + k < n; ++k) b |= static_cast<uint8_t>(q[4 * whole + k] << (2 * k));
        out[whole] = b;
      }
      return;
    }
    default:
      PackAny(codes, bits, out);
  }
}

void UnpackByteCodes(std::span<const uint8_t> in, int bits, std::span<uint8_t> codes) {
  assert(bits >= 1 && bits <= 8);
  assert(in.size() >= PackedBytes(codes.size(), bits));
  uint8_t* q = codes.data();
  const size_t n = codes.size();
  switch (bits) {
    case 8:
      if (n > 0) memcpy(q, in.data(), n);
      return;
    case 4:
      UnpackNibbles(in.data(), n, q);
      return;
    case 2: {
      const size_t whole = n / 4;
      for (size_t b = 0; b < whole; ++b) {
        for (int k = 0; k < 4; ++k) q[4 * b + k] = static_cast<uint8_t>((in[b] >> (2 * k)) & 0x3);
      }
      for (size_t i = 4 * whole; i < n; ++i) {
        q[i] = static_cast<uint8_t>((in[whole] >> (2 * (i - 4 * whole))) & 0x3);
      }
      return;
    }
    default:
      UnpackAny(in, bits, codes);
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
