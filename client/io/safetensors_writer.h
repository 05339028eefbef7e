// File: safetensors_writer.h
//
// Writing safetensors files exactly as the format specifies: an 8-byte little-endian header
// length, a compact JSON header padded with spaces to a multiple of 8 bytes (so the data section
// is 8-byte aligned), `__metadata__` holding strings only, then the tensors' bytes back to back
// in the order given.
//
// Files appear atomically: everything goes to a temporary file beside the target, which is
// fsync'ed and renamed over it (then the folder is fsync'ed). A failure or a crash part-way
// leaves the previous file, or none, never a truncated one.
#ifndef QUANTD_CLIENT_IO_SAFETENSORS_WRITER_H_
#define QUANTD_CLIENT_IO_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "quantd/core/dtype.h"
#include "quantd/core/status.h"

namespace quantd::client {

// Buffered, counted output to a file.
class ByteSink {
 public:
  explicit ByteSink(std::FILE* f) : f_(f) {}
  Status Write(std::span<const uint8_t> bytes);
  uint64_t written() const { return written_; }

 private:
  std::FILE* f_;
  uint64_t written_ = 0;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  // Called once, in order, to produce exactly shape-product * DTypeSize(dtype) bytes.
  std::function<Status(ByteSink&)> write;

  // A tensor whose bytes are already in memory (copied by reference: `bytes` must outlive the
  // write).
  static TensorToWrite FromBytes(std::string name, DType dtype, std::vector<int64_t> shape,
                                 std::span<const uint8_t> bytes);
};

// The header JSON (without length prefix or padding) for `tensors` and `metadata`.
std::string SafetensorsHeader(const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata);

// Writes `tensors` to `path` atomically. Names must be unique and not "__metadata__".
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata);

// Writes `contents` to `path` atomically (temporary file, fsync, rename).
Status WriteFileAtomically(const std::string& path, std::string_view contents);

// Runs `fill` on a temporary file beside `path` and, when it succeeds, fsyncs and renames the
// file over `path`. On failure the temporary file is removed.
Status WriteAtomically(const std::string& path, const std::function<Status(std::FILE*)>& fill);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_IO_SAFETENSORS_WRITER_H_
