// File: chunk_runner.h
//
// The server's two units of work as functions: encode one received chunk (the core's
// EncodeChunk, the path in-process runs take too, so results are the same bytes) into a
// QuantizeResponse, and decode an encoding for Dequantize. The streaming and the unary RPCs
// share them.
#ifndef QUANTD_SERVER_CHUNK_RUNNER_H_
#define QUANTD_SERVER_CHUNK_RUNNER_H_

#include <string>

#include "quantd/core/status.h"
#include "quantd/v1/quantizer.pb.h"
#include "server/chunk_assembler.h"

namespace quantd::server {

// Encodes `chunk` whose bytes are `data` (chunk.data for a streamed chunk, the request's data for
// a unary one); `hessian` is the bytes of the blob it references (null when it references none).
// `gpu_allowed` is false under --device cpu. Errors name the chunk.
StatusOr<quantd::v1::QuantizeResponse> RunChunk(const ReceivedChunk& chunk, std::string_view data,
                                                const std::string* hessian, bool gpu_allowed);

// Decodes an encoding to `dtype` (F32, F16, BF16).
StatusOr<quantd::v1::DequantizeResponse> RunDequantize(const quantd::v1::DequantizeRequest& request);

// Bytes a Dequantize response for `request` will hold (0 when the encoding's header is invalid).
uint64_t DequantizeOutputBytes(const quantd::v1::DequantizeRequest& request);

}  // namespace quantd::server

#endif  // QUANTD_SERVER_CHUNK_RUNNER_H_
