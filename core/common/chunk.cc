#include "quantd/core/chunk.h"

#include "quantd/core/encoding.h"

namespace quantd {

std::string ChunkSpec::Describe() const {
  return "tensor '" + tensor + "' rows " + std::to_string(row_begin) + ".." + std::to_string(row_end());
}

Status ValidateChunkSpec(const ChunkSpec& spec) {
  const std::string who = "tensor '" + spec.tensor + "'";
  if (spec.tensor.empty()) return InvalidArgumentError("tensor_name is empty");
  auto m = MatrixShapeOf(spec.shape);
  if (!m.ok()) return m.status().WithContext(who + ": shape");
  if (!IsQuantizableSource(spec.dtype)) {
    return InvalidArgumentError(who + ": dtype " + std::string(DTypeName(spec.dtype)) +
                                " cannot be quantized (F32, F16, BF16)");
  }
  if (m->cols < 1) return InvalidArgumentError(who + ": rows have no columns");
  if (spec.row_count < 1) return InvalidArgumentError(who + ": row_count must be at least 1");
  if (spec.row_begin < 0 || spec.row_begin > m->rows - spec.row_count) {
    // row_begin + row_count may overflow for a hostile request: print the count instead.
    return InvalidArgumentError(who + ": " + std::to_string(spec.row_count) + " rows from row " +
                                std::to_string(spec.row_begin) + " lie outside the " +
                                std::to_string(m->rows) + " rows of shape");
  }
  return OkStatus();
}

uint64_t ChunkSourceBytes(const ChunkSpec& spec) {
  return static_cast<uint64_t>(spec.row_count) * static_cast<uint64_t>(spec.cols()) * DTypeSize(spec.dtype);
}

}  // namespace quantd
