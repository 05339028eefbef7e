// File: mapped_file.h
//
// `MappedFile`: a whole file mapped read-only. Bytes are views into the mapping, so reading
// costs nothing until pages are touched, and `ReleasePages` drops pages already used, which
// keeps a job's memory bounded by what it has in flight. Thread-safe for reading.
#ifndef QUANTD_CLIENT_IO_MAPPED_FILE_H_
#define QUANTD_CLIENT_IO_MAPPED_FILE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "quantd/core/status.h"

namespace quantd::client {

class MappedFile {
 public:
  // NOT_FOUND when `path` does not exist; INVALID_ARGUMENT (naming the path) when it is not a
  // regular file or cannot be mapped. An empty file maps to no bytes.
  static StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return {map_, size_}; }
  // Drops the whole pages inside `bytes` (a view into this file) from memory; they are read
  // from the file again if touched.
  void ReleasePages(std::span<const uint8_t> bytes) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_IO_MAPPED_FILE_H_
