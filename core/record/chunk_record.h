// File: chunk_record.h
//
// The chunk record: one encoded chunk as a self-describing, versioned, checksummed byte string.
// quantctl's resume journal stores one record per finished chunk (client/job/journal.h), and the
// checkpoint writer copies each record's sections straight to their final place in the output,
// so the result path is core -> record -> checkpoint, with no RPC message in between.
//
// Layout (all integers little-endian):
//
//   0   "QDCR"                       magic
//   4   u32 version                  kChunkRecordVersion
//   8   u64 header_bytes             H
//   16  header (H bytes)             see below
//   ... sections' bytes, each starting at a multiple of 64 (zero padding between)
//   end u64 checksum                 XXH3-64 of every byte before it
//
// Header, in order: tensor name, method, source dtype, shape, row_begin, row_end, cols, resolved
// parameters, method stats, the 128-bit content key of the input, what produced it (device,
// worker, encode seconds, retries), its quality (ErrorSums: count, signal, error, max abs), then
// the section table: per section its name, dtype, shape, and the offset (from the record's
// start) and length of its bytes. Strings are u32 length + bytes; maps are u32 count + pairs in
// key order; doubles are IEEE binary64.
//
// A record is untrusted when read back: ParseChunkRecord checks the magic, version, checksum,
// every length and that each section's bytes match its shape and dtype and lie inside the
// record; any failure is DATA_LOSS.
#ifndef QUANTD_CORE_RECORD_CHUNK_RECORD_H_
#define QUANTD_CORE_RECORD_CHUNK_RECORD_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"
#include "quantd/core/quantize.h"
#include "quantd/core/status.h"

namespace quantd {

inline constexpr uint32_t kChunkRecordVersion = 1;

// The 128-bit content key of a chunk: a hash of everything that determines its encoding.
struct ChunkKey {
  uint64_t high = 0;
  uint64_t low = 0;
  std::string Hex() const;  // 32 lower-case hex digits
  friend bool operator==(const ChunkKey&, const ChunkKey&) = default;
};

// The key of chunk `spec` (with resolved parameters) whose source bytes are `bytes`, with its
// calibration data (may be null). Changes whenever the tensor, rows, method, any parameter, the
// source bytes, the calibration or kChunkKeyVersion change.
ChunkKey ComputeChunkKey(const ChunkSpec& spec, std::span<const uint8_t> bytes,
                         const Calibration* calibration);

// Where and how a chunk was encoded (for reports; not needed to decode).
struct ChunkProvenance {
  std::string worker;  // "in-process" or a server's name
  double seconds = 0;  // encode time reported by the worker
  int32_t retries = 0;
};

// A finished chunk: its result, the key of its input and its provenance.
struct ChunkRecord {
  std::string tensor;
  ChunkResult result;
  ChunkKey key;
  ChunkProvenance provenance;
};

// Writes `record` through `sink`, which is called with consecutive pieces of the record (the
// sections' bytes are passed as they are, not copied). A sink error stops the write.
Status WriteChunkRecord(const ChunkRecord& record,
                        const std::function<Status(std::span<const uint8_t>)>& sink);
// The same, into one buffer.
std::vector<uint8_t> SerializeChunkRecord(const ChunkRecord& record);

// A parsed record whose section data are views into the bytes it was parsed from.
struct ChunkRecordView {
  struct SectionView {
    std::string name;
    DType dtype = DType::kU8;
    std::vector<int64_t> shape;
    std::span<const uint8_t> data;
  };
  std::string tensor;
  Encoding header;  // every field but the sections' bytes (its `sections` are empty)
  ErrorSums error;
  Device device = Device::kCpu;
  ChunkKey key;
  ChunkProvenance provenance;
  std::vector<SectionView> sections;

  // The full encoding (section bytes copied).
  Encoding ToEncoding() const;
};

// Parses `bytes` (a whole record) and, with `verify_checksum`, checks its checksum (which reads
// every byte; without it only the header is read). The views point into `bytes`.
StatusOr<ChunkRecordView> ParseChunkRecord(std::span<const uint8_t> bytes, bool verify_checksum = true);

}  // namespace quantd

#endif  // QUANTD_CORE_RECORD_CHUNK_RECORD_H_
