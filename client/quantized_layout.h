// File: quantized_layout.h
//
// How quantd stores encoded tensors inside a safetensors checkpoint (docs/FORMAT.md is the
// normative description; this is its implementation).
//
// An encoded tensor T is stored as one safetensors entry per section, named "T/<section>", the
// sections of all its slices concatenated along their leading dimension, plus "T/slices", the
// I64 index of row ranges and per-slice section lengths. `__metadata__` carries
// "quantd.format" = "1" and, for each encoded tensor, "quantd.tensor.T" = a JSON object with
// the method, its resolved parameters, the source shape and dtype, the section order and the
// measured quality. Tensors that were not quantized are stored under their own names, unchanged.
#ifndef QUANTD_CLIENT_QUANTIZED_LAYOUT_H_
#define QUANTD_CLIENT_QUANTIZED_LAYOUT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quantd/core/metrics.h"
#include "quantd/core/tensor_encoding.h"
#include "safetensors_reader.h"
#include "safetensors_writer.h"

namespace quantd::client {

inline constexpr char kFormatKey[] = "quantd.format";
inline constexpr char kFormatVersion[] = "1";
inline constexpr char kTensorKeyPrefix[] = "quantd.tensor.";

// "T/section".
std::string SectionEntryName(std::string_view tensor, std::string_view section);

// The metadata value describing encoded tensor `flat` (JSON text). `metrics` may be null.
std::string EncodedTensorMetadata(const FlatTensorEncoding& flat, const Metrics* metrics);

// The safetensors entries of an encoded tensor. They reference `flat`'s bytes, which must
// outlive the write.
std::vector<TensorToWrite> EncodedTensorEntries(const std::string& name, const FlatTensorEncoding& flat);

// A quantized checkpoint opened for reading: which tensors are encoded, which are plain.
class QuantizedCheckpoint {
 public:
  static StatusOr<std::unique_ptr<QuantizedCheckpoint>> Open(const std::string& path);

  struct EncodedInfo {
    std::string name;
    std::string method;
    std::vector<int64_t> shape;
    DType source_dtype = DType::kF32;
    std::string metadata_json;
  };
  const Checkpoint& checkpoint() const { return *checkpoint_; }
  // Encoded tensors, sorted by name.
  const std::vector<EncodedInfo>& encoded() const { return encoded_; }
  // Plain tensors (not sections of an encoded tensor), sorted by name.
  const std::vector<const Checkpoint::Entry*>& plain() const { return plain_; }
  // Reads and validates every section of encoded tensor `name`.
  StatusOr<FlatTensorEncoding> Load(const EncodedInfo& info) const;

 private:
  std::unique_ptr<Checkpoint> checkpoint_;
  std::vector<EncodedInfo> encoded_;
  std::vector<const Checkpoint::Entry*> plain_;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_QUANTIZED_LAYOUT_H_
