// File: quantize.h
//
// The core's entry points: encode a block of rows with a named method, decode an encoding.
// These validate everything a method's own code may assume (shapes, finiteness, parameters),
// so servers and clients call these rather than Method directly.
//
//   quantd::RowBlock block{.tensor_name = "w", .shape = shape, .rows = r, .cols = c, .data = v};
//   QUANTD_ASSIGN_OR_RETURN(quantd::Encoding enc, quantd::EncodeRows(block, "rtn", {{"bits", "4"}}));
//   QUANTD_ASSIGN_OR_RETURN(std::vector<float> back, quantd::DecodeRows(enc));
#ifndef QUANTD_CORE_QUANTIZE_H_
#define QUANTD_CORE_QUANTIZE_H_

#include <span>
#include <string_view>
#include <vector>

#include "quantd/core/device.h"
#include "quantd/core/encoding.h"
#include "quantd/core/metrics.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"
#include "quantd/core/tensor.h"

namespace quantd {

// Checks the block against its tensor shape (row range inside the matrix view, cols equal to
// the row length, data length rows*cols, calibration sizes) and that every value is finite.
// INVALID_ARGUMENT naming the tensor and the first offending value otherwise.
Status ValidateRowBlock(const RowBlock& input);

struct EncodeOptions {
  // kCpu: always the CPU. kCuda: the GPU or an error (UNAVAILABLE without a device, UNIMPLEMENTED
  // when the method has no CUDA encoder for these parameters). kAuto: the GPU when there is one,
  // the method has a CUDA encoder and the block has at least kAutoCudaMinWeights weights; falls
  // back to the CPU when the GPU cannot take the block (out of memory, device error).
  Device device = Device::kCpu;
};

// Resolves `params` for `method` and encodes `input`. The returned Encoding has every header
// field filled (method, resolved params, shape, source dtype, row range, cols). `*used` (may be
// null) receives where it ran.
StatusOr<Encoding> EncodeRows(const RowBlock& input, std::string_view method, const Params& params,
                              const EncodeOptions& options = {}, Device* used = nullptr);

// An encoding together with its reconstruction error against the input it came from.
struct MeasuredEncoding {
  Encoding encoding;
  ErrorSums error;
  Device device = Device::kCpu;  // where the encoding ran
};

// EncodeRows, then decodes the result and measures it against `input`: what a server returns
// for every chunk and what the client reports for every tensor.
StatusOr<MeasuredEncoding> EncodeAndMeasure(const RowBlock& input, std::string_view method,
                                            const Params& params, const EncodeOptions& options = {});

// Checks the header of an untrusted encoding (known method, shape matching the row range and
// cols) before its sections are looked at.
Status ValidateEncodingHeader(const Encoding& enc);

// Decodes enc.rows() x enc.cols floats.
StatusOr<std::vector<float>> DecodeRows(const Encoding& enc);
Status DecodeRows(const Encoding& enc, std::span<float> out);

}  // namespace quantd

#endif  // QUANTD_CORE_QUANTIZE_H_
