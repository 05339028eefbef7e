// File: quantize.h
//
// The core's entry points: encode a chunk with a named method, decode an encoding. These
// validate everything a method's own code may assume (shapes, finiteness, parameters), so
// servers and clients call these rather than Method directly.
//
// `EncodeChunk` is the one path from a chunk's source bytes to its measured encoding; quantd's
// RPCs and quantctl's in-process runs both take it, so their results are the same bytes:
//
//   quantd::ChunkSpec spec{.tensor = "w", .shape = {4096, 4096}, .dtype = quantd::DType::kBF16,
//                          .row_begin = 0, .row_count = 512, .method = "rtn", .params = {{"bits", "4"}}};
//   QUANTD_ASSIGN_OR_RETURN(quantd::ChunkResult r, quantd::EncodeChunk(spec, bytes, nullptr, {}));
//   QUANTD_ASSIGN_OR_RETURN(std::vector<float> back, quantd::DecodeRows(r.encoding));
//
// `EncodeRows` is the same below the byte conversion, for callers that hold floats (tests,
// benchmarks).
#ifndef QUANTD_CORE_QUANTIZE_H_
#define QUANTD_CORE_QUANTIZE_H_

#include <span>
#include <string_view>
#include <vector>

#include "quantd/core/chunk.h"
#include "quantd/core/device.h"
#include "quantd/core/encoding.h"
#include "quantd/core/metrics.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"

namespace quantd {

// Checks the chunk against its tensor shape (row range inside the matrix view, cols equal to
// the row length, data length rows*cols, calibration sizes) and that every value is finite.
// INVALID_ARGUMENT naming the tensor and the first offending value otherwise.
Status ValidateChunk(const Chunk& input);
// The two halves of ValidateChunk: everything but the values, and the values.
Status ValidateChunkLayout(const Chunk& input);
Status ValidateChunkValues(const Chunk& input);

// Resolves `params` for `method` and encodes `input` where `device` says (device.h; by default
// the CPU). The returned Encoding has every header field filled (method, resolved params,
// shape, source dtype, row range, cols). `*used` (may be null) receives where it ran.
StatusOr<Encoding> EncodeRows(const Chunk& input, std::string_view method, const Params& params,
                              const DevicePolicy& device = {Device::kCpu}, Device* used = nullptr);

// An encoding together with its reconstruction error against the input it came from: what a
// server returns for every chunk and what the client reports for every tensor.
struct ChunkResult {
  Encoding encoding;
  ErrorSums error;
  Device device = Device::kCpu;  // where the encoding ran
};

// EncodeRows, then decodes the result and measures it against `input`.
StatusOr<ChunkResult> EncodeAndMeasure(const Chunk& input, std::string_view method, const Params& params,
                                       const DevicePolicy& device = {Device::kCpu});

// The chunk `spec` whose source bytes are `bytes` (row_count x cols values of spec.dtype,
// little-endian): checks the spec and the byte count, widens the values to float (F32 bytes
// that are aligned for float are read in place), then EncodeAndMeasure. `calibration` may be
// null. Errors name the chunk.
StatusOr<ChunkResult> EncodeChunk(const ChunkSpec& spec, std::span<const uint8_t> bytes,
                                  const Calibration* calibration, const DevicePolicy& device);

// Checks the header of an untrusted encoding (known method, shape matching the row range and
// cols) before its sections are looked at.
Status ValidateEncodingHeader(const Encoding& enc);

// Decodes enc.rows() x enc.cols floats.
StatusOr<std::vector<float>> DecodeRows(const Encoding& enc);
Status DecodeRows(const Encoding& enc, std::span<float> out);

}  // namespace quantd

#endif  // QUANTD_CORE_QUANTIZE_H_
