// File: safetensors_reader.h
//
// Reading safetensors checkpoints: one file (`SafetensorsFile`) or a folder of shards described
// by `model.safetensors.index.json` (`Checkpoint`).
//
// Files are memory-mapped; tensor bytes are views into the mapping, so reading a tensor costs
// nothing until its pages are touched. Opening validates the whole header (format:
// https://github.com/huggingface/safetensors): the 8-byte little-endian header length lies
// inside the file, the header is a JSON object, every dtype name is known, every shape times its
// dtype size equals its byte range, ranges are in bounds, non-overlapping and cover the data
// section exactly, and `__metadata__` maps strings to strings. Every error names the file and,
// where there is one, the tensor.
#ifndef QUANTD_CLIENT_IO_SAFETENSORS_READER_H_
#define QUANTD_CLIENT_IO_SAFETENSORS_READER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "client/io/mapped_file.h"
#include "quantd/core/dtype.h"
#include "quantd/core/status.h"

namespace quantd::client {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range within the data section
  uint64_t end = 0;
  uint64_t size_bytes() const { return end - begin; }
};

// An open, validated, memory-mapped safetensors file. Thread-safe for reading.
class SafetensorsFile {
 public:
  // Largest header accepted (the reference implementation's limit).
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Parses a header held in memory (tests and fuzzing); `file_size` is the whole file's size.
  static StatusOr<std::vector<TensorInfo>> ParseHeader(std::string_view header_json, uint64_t data_size,
                                                       std::map<std::string, std::string>* metadata,
                                                       const std::string& path_for_errors);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in order of their data offsets.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* Find(std::string_view name) const;
  // The tensor's bytes (a view into the mapping, valid while this object lives).
  std::span<const uint8_t> Data(const TensorInfo& t) const;
  // Drops the pages of `bytes` (a view returned by Data) from this process's memory; they are
  // read from the file again if touched. Keeps a job's RSS bounded by what it has in flight.
  void ReleasePages(std::span<const uint8_t> bytes) const;
  uint64_t file_size() const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

// A checkpoint: one safetensors file, or the shards named by an index.
class Checkpoint {
 public:
  // `path` is a .safetensors file, a model.safetensors.index.json file, or a folder holding
  // either model.safetensors.index.json or exactly one .safetensors file.
  static StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& path);

  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  // All tensors, sorted by name.
  const std::vector<Entry>& tensors() const { return tensors_; }
  const Entry* Find(std::string_view name) const;
  // Metadata of the first shard (the index's "metadata" is not tensor metadata).
  const std::map<std::string, std::string>& metadata() const { return files_.front()->metadata(); }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // The folder holding the checkpoint (for copying config and tokenizer files).
  const std::string& directory() const { return directory_; }
  bool sharded() const { return sharded_; }
  uint64_t total_bytes() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<Entry> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
  std::string directory_;
  bool sharded_ = false;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_IO_SAFETENSORS_READER_H_
