#include "core/common/bitpack.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace quantd {
namespace {

TEST(BitpackTest, KnownLayout) {
  // Codes 1, 2, 3 at 3 bits: bits 001 010 011 LSB first -> 0b1_010_001 = 0xD1, then 0b0 = 0x00.
  std::vector<uint32_t> codes = {1, 2, 3};
  std::vector<uint8_t> out(PackedBytes(3, 3), 0xFF);
  PackBits(codes, 3, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], 0xD1);
  EXPECT_EQ(out[1], 0x00);
  // 4-bit: low nibble first.
  std::vector<uint8_t> nib(1);
  PackBits(std::vector<uint32_t>{0xA, 0x5}, 4, nib);
  EXPECT_EQ(nib[0], 0x5A);
}

// Every width from 1 to 32 bits, many lengths, random codes: unpack(pack(x)) == x exactly, and
// padding bits are zero.
TEST(BitpackTest, RoundTripEveryWidth) {
  std::mt19937_64 rng(7);
  for (int bits = 1; bits <= 32; ++bits) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{63}, size_t{1000}}) {
      std::vector<uint32_t> codes(n);
      const uint64_t mask = (uint64_t{1} << bits) - 1;
      for (auto& c : codes) c = static_cast<uint32_t>(rng() & mask);
      std::vector<uint8_t> packed(PackedBytes(n, bits));
      PackBits(codes, bits, packed);
      if (n * bits % 8 != 0) {
        const int used = static_cast<int>(n * bits % 8);
        EXPECT_EQ(packed.back() >> used, 0) << "padding bits not zero, bits=" << bits;
      }
      std::vector<uint32_t> back(n);
      UnpackBits(packed, bits, back);
      ASSERT_EQ(back, codes) << "bits=" << bits << " n=" << n;
      // The variable-width writer produces the same stream.
      std::vector<uint8_t> stream(packed.size());
      BitWriter w(stream);
      for (uint32_t c : codes) w.Put(c, bits);
      EXPECT_EQ(stream, packed);
      BitReader r(stream);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(r.Get(bits), codes[i]);
    }
  }
}

// The byte-code packers produce PackBits' stream and read it back, for every width up to 8 and
// lengths that exercise the odd tails of the 2- and 4-bit shortcuts.
TEST(BitpackTest, ByteCodesMatchPackBits) {
  std::mt19937_64 rng(11);
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t n :
         {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{8}, size_t{33}, size_t{1001}}) {
      std::vector<uint32_t> codes(n);
      std::vector<uint8_t> bytes(n);
      for (size_t i = 0; i < n; ++i) {
        codes[i] = static_cast<uint32_t>(rng() & ((1u << bits) - 1));
        bytes[i] = static_cast<uint8_t>(codes[i]);
      }
      std::vector<uint8_t> a(PackedBytes(n, bits), 0xEE), b(PackedBytes(n, bits), 0x11);
      PackBits(codes, bits, a);
      PackByteCodes(bytes, bits, b);
      ASSERT_EQ(a, b) << "bits=" << bits << " n=" << n;
      std::vector<uint8_t> back(n, 0xFF);
      UnpackByteCodes(a, bits, back);
      ASSERT_EQ(back, bytes) << "bits=" << bits << " n=" << n;
    }
  }
}

TEST(BitpackTest, WideFields) {
  std::vector<uint8_t> stream(32);
  BitWriter w(stream);
  w.Put(0x1, 1);
  w.Put(0xFEDCBA9876543210ull, 64);
  w.Put(0x2A, 7);
  EXPECT_EQ(w.bits_written(), 72u);
  BitReader r(stream);
  EXPECT_EQ(r.Get(1), 1u);
  EXPECT_EQ(r.Get(64), 0xFEDCBA9876543210ull);
  EXPECT_EQ(r.Get(7), 0x2Au);
}

}  // namespace
}  // namespace quantd
