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
#ifndef QUANTD_CLIENT_IO_QUANTIZED_LAYOUT_H_
#define QUANTD_CLIENT_IO_QUANTIZED_LAYOUT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/io/checkpoint_writer.h"
#include "client/io/safetensors_reader.h"
#include "client/io/safetensors_writer.h"
#include "quantd/core/metrics.h"
#include "quantd/core/tensor_encoding.h"

namespace quantd::client {

// The checkpoint format's version, in every quantized file's "quantd.format" metadata key.
inline constexpr char kCheckpointFormatKey[] = "quantd.format";
inline constexpr char kCheckpointFormatVersion[] = "1";
inline constexpr char kTensorKeyPrefix[] = "quantd.tensor.";

// "T/section".
std::string SectionEntryName(std::string_view tensor, std::string_view section);

// The metadata value describing encoded tensor `flat` (JSON text). `metrics` may be null.
std::string EncodedTensorMetadata(const FlatTensorEncoding& flat, const Metrics* metrics);

// The metadata of a quantized checkpoint made from one with `input` metadata: the input's keys
// but "format" (the file is no longer plain PyTorch weights), plus "quantd.format".
std::map<std::string, std::string> QuantizedFileMetadata(const std::map<std::string, std::string>& input);
// The metadata of a checkpoint decoded from a quantized one: its keys but quantd's, plus
// "format" = "pt".
std::map<std::string, std::string> DecodedFileMetadata(const std::map<std::string, std::string>& quantized);

// Encoded tensor `name` as safetensors entries, in one group: one entry "name/<section>" per
// section of `flat` (its shapes say the sizes; `write_section(k, sink)` writes section k's bytes,
// every slice's in row order), then the slice index "name/slices" (from `flat`, which must
// outlive the write), and its metadata key. INVALID_ARGUMENT when an entry name collides with
// `taken` (a plain tensor of the same checkpoint).
using SectionWriter = std::function<Status(size_t section, ByteSink& sink)>;
StatusOr<TensorGroup> EncodedTensorGroup(const std::string& name, const FlatTensorEncoding& flat,
                                         const Metrics& metrics, SectionWriter write_section,
                                         const std::function<bool(const std::string&)>& taken);

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

#endif  // QUANTD_CLIENT_IO_QUANTIZED_LAYOUT_H_
