// File: chunk_runner.h
//
// Encoding one assembled chunk: the bytes become floats, calibration data is attached, the core
// encodes and measures, and the result becomes a QuantizeResponse. The same function serves the
// streaming and the unary RPC, and its result is exactly the in-process core's.
#ifndef QUANTD_SERVER_CHUNK_RUNNER_H_
#define QUANTD_SERVER_CHUNK_RUNNER_H_

#include <string>

#include "chunk_assembler.h"
#include "quantd/core/device.h"
#include "quantd/core/status.h"
#include "quantd/v1/quantizer.pb.h"

namespace quantd::server {

// Encodes `chunk` whose bytes are `data` (chunk.data for a streamed chunk, the request's data for
// a unary one); `hessian` is the bytes of the blob it references (null when it references none).
// Errors name the tensor and chunk.
// `policy` is the server's --device: kCpu never uses a GPU; otherwise the request's device
// decides (DEVICE_AUTO: the GPU when it pays, see quantize.h).
StatusOr<quantd::v1::QuantizeResponse> RunChunk(const AssembledChunk& chunk, std::string_view data,
                                                const std::string* hessian, Device policy);

// Decodes an encoding to `dtype` (F32, F16, BF16).
StatusOr<quantd::v1::DequantizeResponse> RunDequantize(const quantd::v1::DequantizeRequest& request);

// Bytes a Dequantize response for `request` will hold (0 when the encoding's header is invalid).
uint64_t DequantizeOutputBytes(const quantd::v1::DequantizeRequest& request);

}  // namespace quantd::server

#endif  // QUANTD_SERVER_CHUNK_RUNNER_H_
