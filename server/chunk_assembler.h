// File: chunk_assembler.h
//
// `ChunkAssembler`: one stream's reassembly of chunks split over several messages, and of the
// calibration blobs (Hessians) uploaded on it. It validates every chunk header when a chunk
// starts (shape, dtype, row range, sizes), so that the bytes a chunk will hold are known before
// they are reserved from the server's budget, and checks that later parts continue exactly
// where the previous ones stopped. Not thread-safe: the stream serializes its calls.
#ifndef QUANTD_SERVER_CHUNK_ASSEMBLER_H_
#define QUANTD_SERVER_CHUNK_ASSEMBLER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "quantd/core/chunk.h"
#include "quantd/core/device.h"
#include "quantd/core/encoding.h"
#include "quantd/core/status.h"
#include "quantd/v1/quantizer.pb.h"

namespace quantd::server {

// A chunk received on a stream (or in a unary call): what it is, what it asks, its bytes.
struct ReceivedChunk {
  uint64_t chunk_id = 0;
  ChunkSpec spec;                 // checked by ValidateChunkSpec
  Device device = Device::kAuto;  // the request's device
  std::vector<float> column_max;  // static column maxima sent with it (cols values) or empty
  std::string hessian_key;        // the Hessian blob it references, or empty
  std::string data;               // ChunkSourceBytes(spec) bytes once complete
  uint64_t budget_bytes = 0;      // bytes reserved for it from the server's budget

  // "chunk 7 of tensor 'x'", for messages.
  std::string Describe() const;
};

// Checks a chunk header (the fields of a chunk's first message) and returns the chunk with no
// data yet, its size known. `max_chunk_bytes` bounds what the server could ever hold.
StatusOr<ReceivedChunk> ValidateChunkHeader(const quantd::v1::QuantizeRequest& m, uint64_t max_chunk_bytes);

class ChunkAssembler {
 public:
  // Failed chunk ids remembered per stream (to drop their later parts); a stream failing more
  // chunks than this answers their stray parts as new chunks again.
  static constexpr size_t kMaxFailedChunks = 1 << 16;

  explicit ChunkAssembler(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // What accepting message `m` takes. `bytes`: new bytes to reserve (the size of a chunk or blob
  // that `m` starts). `chunk_error` (with `chunk_id`): `m`'s chunk part is invalid and must be
  // answered with this error and skipped; a pending chunk it continued is dropped (its bytes come
  // back through Accept's `released`). `stream_error`: `m`'s blob part is invalid; the stream
  // must end. `ignore_chunk`: `m` continues a chunk that already failed, which was answered
  // once; its part is dropped without another answer.
  struct Need {
    uint64_t bytes = 0;
    uint64_t chunk_id = 0;
    Status chunk_error;
    Status stream_error;
    bool ignore_chunk = false;
  };
  Need Inspect(const quantd::v1::QuantizeRequest& m) const;

  struct Result {
    std::optional<ReceivedChunk> complete;  // owns its reserved bytes from now on
    uint64_t released = 0;                  // bytes of dropped pending chunks to give back
  };
  // Accepts `m` after Inspect and after `need.bytes` were reserved.
  Result Accept(quantd::v1::QuantizeRequest&& m, const Need& need);

  // A complete blob, or null.
  const std::string* Blob(const std::string& key) const;
  // Ids of chunks still missing bytes (to report when the stream ends).
  std::vector<uint64_t> IncompleteChunks() const;
  // Bytes held by incomplete chunks and by blobs (to release when the stream ends).
  uint64_t HeldBytes() const;

 private:
  static bool HasChunkPart(const quantd::v1::QuantizeRequest& m);
  struct PendingBlob {
    uint64_t total = 0;
    std::string data;
  };
  const uint64_t max_bytes_;
  std::map<uint64_t, ReceivedChunk> pending_;
  std::set<uint64_t> failed_;  // chunks answered with an error before all their parts arrived
  std::map<std::string, PendingBlob> blobs_;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_CHUNK_ASSEMBLER_H_
