// The chunk record (core/record/chunk_record.h): a finished chunk written and parsed back bit for
// bit, every kind of damage detected, and keys that change with everything that determines an
// encoding.
#include "core/record/chunk_record.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <random>
#include <vector>
#if defined(__x86_64__)
#define XXH_DISPATCH_DISABLE_REPLACE  // here XXH3_64bits is the library's plain SSE2 build
#include <xxh_x86dispatch.h>
#endif

#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

ChunkRecord MakeRecord() {
  const auto w = testing::Gaussian(8 * 40, 3, 0.02f);
  const std::vector<int64_t> shape = {16, 40};
  const Chunk chunk{.tensor_name = "layer.w",
                    .shape = shape,
                    .source_dtype = DType::kBF16,
                    .row_begin = 8,
                    .rows = 8,
                    .cols = 40,
                    .data = w};
  auto r = EncodeAndMeasure(chunk, "kashin", {{"bits", "3"}});  // several sections, stats
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  ChunkRecord rec{.tensor = "layer.w",
                  .result = std::move(*r),
                  .key = {0x0123456789abcdefULL, 42},
                  .provenance = {.worker = "10.0.0.5:50051", .seconds = 0.25, .retries = 2}};
  return rec;
}

TEST(ChunkRecordTest, RoundTripIsExact) {
  const ChunkRecord rec = MakeRecord();
  const std::vector<uint8_t> bytes = SerializeChunkRecord(rec);
  auto v = ParseChunkRecord(bytes);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->tensor, "layer.w");
  EXPECT_EQ(v->ToEncoding(), rec.result.encoding);
  EXPECT_EQ(v->error.count, rec.result.error.count);
  EXPECT_EQ(v->error.signal_energy, rec.result.error.signal_energy);
  EXPECT_EQ(v->error.error_energy, rec.result.error.error_energy);
  EXPECT_EQ(v->error.max_abs_error, rec.result.error.max_abs_error);
  EXPECT_EQ(v->key, rec.key);
  EXPECT_EQ(v->key.Hex(), "0123456789abcdef000000000000002a");
  EXPECT_EQ(v->provenance.worker, "10.0.0.5:50051");
  EXPECT_EQ(v->provenance.seconds, 0.25);
  EXPECT_EQ(v->provenance.retries, 2);
  EXPECT_EQ(v->device, Device::kCpu);
  // Sections start on 64-byte boundaries, so a mapped record can be read in place.
  for (const auto& s : v->sections) EXPECT_EQ((s.data.data() - bytes.data()) % 64, 0) << s.name;
  // Writing in pieces gives the same bytes.
  std::vector<uint8_t> pieces;
  int calls = 0;
  QUANTD_ASSERT_OK(WriteChunkRecord(rec, [&](std::span<const uint8_t> p) {
    pieces.insert(pieces.end(), p.begin(), p.end());
    ++calls;
    return OkStatus();
  }));
  EXPECT_EQ(pieces, bytes);
  EXPECT_GT(calls, 3);
}

TEST(ChunkRecordTest, DamageIsDataLoss) {
  const std::vector<uint8_t> good = SerializeChunkRecord(MakeRecord());
  for (size_t at : {size_t{0}, size_t{5}, size_t{20}, good.size() / 2, good.size() - 1}) {
    std::vector<uint8_t> bad = good;
    bad[at] ^= 0x01;
    EXPECT_THAT(ParseChunkRecord(bad), StatusIs(StatusCode::kDataLoss, "chunk record is damaged")) << at;
  }
  for (size_t len : {size_t{0}, size_t{10}, good.size() - 1}) {
    EXPECT_THAT(ParseChunkRecord(std::span<const uint8_t>(good).first(len)),
                StatusIs(StatusCode::kDataLoss, ""));
  }
  std::vector<uint8_t> future = good;
  future[4] = 9;  // version
  EXPECT_THAT(ParseChunkRecord(future), StatusIs(StatusCode::kDataLoss, "version 9"));
  // Without the checksum only the header is read: a flipped data byte goes unnoticed then, but a
  // header that does not hold together is still refused.
  std::vector<uint8_t> data_flip = good;
  data_flip[good.size() - 20] ^= 0x10;
  EXPECT_TRUE(ParseChunkRecord(data_flip, /*verify_checksum=*/false).ok());
  std::vector<uint8_t> header_cut = good;
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(header_cut.data() + 8, &huge, 8);
  EXPECT_THAT(ParseChunkRecord(header_cut, false), StatusIs(StatusCode::kDataLoss, "header length"));
}

TEST(ChunkRecordTest, KeysFollowEverythingThatDeterminesTheEncoding) {
  const std::vector<uint8_t> bytes(64, 7);
  const ChunkSpec base{.tensor = "t",
                       .shape = {4, 8},
                       .dtype = DType::kF16,
                       .row_begin = 0,
                       .row_count = 4,
                       .method = "rtn",
                       .params = {{"bits", "4"}}};
  const ChunkKey k = ComputeChunkKey(base, bytes, nullptr);
  EXPECT_EQ(ComputeChunkKey(base, bytes, nullptr), k);
  auto differs = [&](ChunkSpec s, std::vector<uint8_t> b = std::vector<uint8_t>(64, 7),
                     const Calibration* c = nullptr) { return !(ComputeChunkKey(s, b, c) == k); };
  ChunkSpec s = base;
  s.tensor = "u";
  EXPECT_TRUE(differs(s));
  s = base;
  s.params.Set("bits", "5");
  EXPECT_TRUE(differs(s));
  s = base;
  s.row_begin = 1;
  EXPECT_TRUE(differs(s));
  s = base;
  s.dtype = DType::kBF16;
  EXPECT_TRUE(differs(s));
  std::vector<uint8_t> other(64, 7);
  other[63] = 8;
  EXPECT_TRUE(differs(base, other));
  const std::vector<float> cmax(8, 1.0f);
  const Calibration cal{.column_max = cmax, .hessian = {}};
  EXPECT_TRUE(differs(base, std::vector<uint8_t>(64, 7), &cal));
}

#if defined(__x86_64__)
// Records are checksummed and keyed with libxxhash's dispatching XXH3 (AVX2/AVX-512 where the
// CPU has them); its hashes must be the library's plain ones and the spec's, so records stay
// readable by any build: known values, then the plain and dispatched forms (64- and 128-bit,
// one-shot and streaming as WriteChunkRecord uses it) on lengths through every code path.
TEST(ChunkRecordTest, DispatchedChecksumsAreTheSpecsValues) {
  EXPECT_EQ(XXH3_64bits_dispatch("", 0), 0x2D06800538D394C2ULL);
  EXPECT_EQ(XXH3_64bits_dispatch("abc", 3), 0x78AF5F94892F3950ULL);
  std::mt19937_64 rng(7);
  for (size_t n : {size_t{1}, size_t{16}, size_t{129}, size_t{240}, size_t{241}, size_t{1024}, size_t{4096},
                   size_t{100003}, size_t{1} << 20}) {
    std::vector<uint8_t> b(n);
    for (auto& v : b) v = static_cast<uint8_t>(rng());
    EXPECT_EQ(XXH3_64bits(b.data(), n), XXH3_64bits_dispatch(b.data(), n)) << n;
    const XXH128_hash_t plain = XXH3_128bits(b.data(), n), fast = XXH3_128bits_dispatch(b.data(), n);
    EXPECT_EQ(plain.low64, fast.low64) << n;
    EXPECT_EQ(plain.high64, fast.high64) << n;
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update_dispatch(st, b.data(), n / 3);
    XXH3_64bits_update_dispatch(st, b.data() + n / 3, n - n / 3);
    EXPECT_EQ(XXH3_64bits_digest(st), XXH3_64bits(b.data(), n)) << n;
    XXH3_freeState(st);
  }
}
#endif
}  // namespace
}  // namespace quantd
