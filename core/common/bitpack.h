// File: bitpack.h
//
// Packing of unsigned integer codes of width 1..32 bits into a byte stream.
//
// Layout (docs/FORMAT.md): codes are laid end to end, least significant bit first; code i
// occupies bits [i*b, (i+1)*b) of the stream, where bit k is bit (k % 8) of byte k / 8. The last
// byte is zero-padded. This is the order a little-endian machine gets by OR-ing codes into a
// 64-bit accumulator, so packing and unpacking are a shift and a mask per code.
#ifndef QUANTD_CORE_COMMON_BITPACK_H_
#define QUANTD_CORE_COMMON_BITPACK_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace quantd {

// Bytes needed for `count` codes of `bits` bits.
constexpr size_t PackedBytes(size_t count, int bits) { return (count * static_cast<size_t>(bits) + 7) / 8; }

// Packs codes[i] & ((1<<bits)-1) into out. REQUIRES: 1 <= bits <= 32,
// out.size() >= PackedBytes(codes.size(), bits). Bytes of `out` past the packed length are not
// touched; padding bits inside the last byte are zero.
void PackBits(std::span<const uint32_t> codes, int bits, std::span<uint8_t> out);

// Inverse of PackBits for codes.size() codes. REQUIRES: in.size() >= PackedBytes(codes.size(), bits).
void UnpackBits(std::span<const uint8_t> in, int bits, std::span<uint32_t> codes);

// The same layout for codes of 1..8 bits held one per byte, the form the quantizers' inner loops
// produce; widths 8, 4 and 2 take shortcuts. REQUIRES: 1 <= bits <= 8, every code < 2^bits,
// out.size() >= PackedBytes(codes.size(), bits).
void PackByteCodes(std::span<const uint8_t> codes, int bits, std::span<uint8_t> out);
// Inverse of PackByteCodes. REQUIRES: in.size() >= PackedBytes(codes.size(), bits).
void UnpackByteCodes(std::span<const uint8_t> in, int bits, std::span<uint8_t> codes);

// The 4-bit case of PackByteCodes / UnpackByteCodes, inline so that the instruction-set variants
// of a row kernel (isa.h) compile it with their own vector width. Indexed by output byte, which
// vectorises (ten times faster than stepping through the codes two at a time); then the odd tail.
inline void PackNibbles(const uint8_t* q, size_t n, uint8_t* out) {
  const size_t whole = n / 2;
  for (size_t b = 0; b < whole; ++b) out[b] = static_cast<uint8_t>(q[2 * b] | (q[2 * b + 1] << 4));
  if (n % 2 != 0) out[whole] = q[n - 1];
}
inline void UnpackNibbles(const uint8_t* in, size_t n, uint8_t* q) {
  const size_t whole = n / 2;
  for (size_t b = 0; b < whole; ++b) {
    q[2 * b] = static_cast<uint8_t>(in[b] & 0xF);
    q[2 * b + 1] = static_cast<uint8_t>(in[b] >> 4);
  }
  if (n % 2 != 0) q[n - 1] = static_cast<uint8_t>(in[whole] & 0xF);
}

// Bit-level writer for variable-width fields (PVQ indices wider than 64 bits), same bit order.
class BitWriter {
 public:
  explicit BitWriter(std::span<uint8_t> out) : out_(out) {}
  // Appends the low `bits` bits of `value` (bits <= 64).
  void Put(uint64_t value, int bits);
  size_t bits_written() const { return pos_; }

 private:
  std::span<uint8_t> out_;
  size_t pos_ = 0;
};

class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> in) : in_(in) {}
  // Reads `bits` bits (<= 64). Reading past the end yields zero bits.
  uint64_t Get(int bits);
  size_t bits_read() const { return pos_; }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_BITPACK_H_
