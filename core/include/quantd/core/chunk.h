// File: chunk.h
//
// The unit of work. A *chunk* is a run of consecutive rows of one tensor's matrix view (rows =
// the product of every dimension but the last, cols = the last), encoded as one unit in this
// process or on a server, and sent as one unit over the wire. Its encoding, stored inside a
// checkpoint's tensor, is a *slice* (tensor_encoding.h). A *block* is a method's own subdivision
// of a row (Kashin's vectors, PVQ's groups) and never leaves the method.
//
// - `ChunkSpec`: what a chunk is: tensor, shape, source dtype, row range, method and parameters.
//   Plain data, enough to name the chunk in errors, in the journal and on the wire.
// - `Chunk`: what an encoder reads: the rows widened to float, plus calibration data.
// - `Calibration`: data some methods consume besides the weights (method.h says which).
#ifndef QUANTD_CORE_CHUNK_H_
#define QUANTD_CORE_CHUNK_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quantd/core/dtype.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"

namespace quantd {

// Calibration data supplied with a tensor, as views (the client maps them from calibration files,
// the server holds them in uploaded blobs; neither is copied). Empty spans mean "not supplied".
struct Calibration {
  // CrossQuant: static column abs-maxima c_j from calibration activations (cols values).
  std::span<const float> column_max;
  // PVQ (Hessian-aware): H = X^T X from calibration activations, cols x cols, row-major.
  std::span<const float> hessian;

  bool empty() const { return column_max.empty() && hessian.empty(); }
};

struct ChunkSpec {
  std::string tensor;          // the tensor's name (errors, derived seeds, the journal)
  std::vector<int64_t> shape;  // the whole tensor's shape
  DType dtype = DType::kF32;   // of the source bytes: F32, F16 or BF16
  int64_t row_begin = 0;       // first row of the chunk in the tensor's matrix view
  int64_t row_count = 0;
  std::string method;
  Params params;  // as given; EncodeChunk resolves them

  int64_t row_end() const { return row_begin + row_count; }
  // The row length: the last dimension (1 for a rank-0 tensor, as MatrixShapeOf has it).
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  // "tensor 'x' rows 0..64", for messages.
  std::string Describe() const;
};

// Checks a spec before any bytes are looked at: a sane shape (MatrixShapeOf), a quantizable
// dtype, at least one row and column, and a row range inside the tensor. INVALID_ARGUMENT
// naming the chunk otherwise.
Status ValidateChunkSpec(const ChunkSpec& spec);
// Bytes of the chunk's source rows: row_count x cols x DTypeSize(dtype). REQUIRES: a valid spec.
uint64_t ChunkSourceBytes(const ChunkSpec& spec);

struct Chunk {
  std::string_view tensor_name;    // for error messages and derived seeds only
  std::span<const int64_t> shape;  // the whole tensor's shape
  DType source_dtype = DType::kF32;
  int64_t row_begin = 0;  // first row of this chunk in the tensor's matrix view
  int64_t rows = 0;
  int64_t cols = 0;
  std::span<const float> data;  // rows * cols values, row-major
  const Calibration* calibration = nullptr;

  const float* row(int64_t r) const { return data.data() + r * cols; }
};

}  // namespace quantd

#endif  // QUANTD_CORE_CHUNK_H_
