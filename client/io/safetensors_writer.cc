#include "client/io/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

Status IoError(const std::string& path, const std::string& what) {
  return Status(StatusCode::kInternal, path + ": " + what + ": " + std::strerror(errno));
}

uint64_t ByteSize(const TensorToWrite& t) {
  uint64_t n = DTypeSize(t.dtype);
  for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
  return n;
}

}  // namespace

Status ByteSink::Write(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return OkStatus();
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) {
    return Status(StatusCode::kInternal, std::string("write failed: ") + std::strerror(errno));
  }
  written_ += bytes.size();
  return OkStatus();
}

TensorToWrite TensorToWrite::FromBytes(std::string name, DType dtype, std::vector<int64_t> shape,
                                       std::span<const uint8_t> bytes) {
  TensorToWrite t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.write = [bytes](ByteSink& sink) { return sink.Write(bytes); };
  return t;
}

std::string SafetensorsHeader(const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  // nlohmann::ordered_json keeps insertion order, so the header lists tensors in data order.
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const uint64_t n = ByteSize(t);
    h[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  return h.dump();
}

Status WriteAtomically(const std::string& path, const std::function<Status(std::FILE*)>& fill) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp =
      (dir / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return IoError(tmp, "cannot create");
  std::vector<char> buffer(1 << 20);
  std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
  Status s = fill(f);
  if (s.ok() && std::fflush(f) != 0) s = IoError(tmp, "flush failed");
  if (s.ok() && ::fsync(::fileno(f)) != 0) s = IoError(tmp, "fsync failed");
  if (std::fclose(f) != 0 && s.ok()) s = IoError(tmp, "close failed");
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) s = IoError(path, "rename failed");
  if (!s.ok()) {
    std::remove(tmp.c_str());
    return s;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // make the rename durable; failure here does not undo the write
    ::close(dfd);
  }
  return OkStatus();
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  return WriteAtomically(path, [&](std::FILE* f) -> Status {
    if (std::fwrite(contents.data(), 1, contents.size(), f) != contents.size()) {
      return IoError(path, "write failed");
    }
    return OkStatus();
  });
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const TensorToWrite& t : tensors) {
    if (t.name == "__metadata__" || t.name.empty()) {
      return InvalidArgumentError(path + ": invalid tensor name '" + t.name + "'");
    }
    if (!names.insert(t.name).second) {
      return InvalidArgumentError(path + ": tensor '" + t.name + "' written twice");
    }
    for (int64_t d : t.shape) {
      if (d < 0) return InvalidArgumentError(path + ": tensor '" + t.name + "' has a negative dimension");
    }
  }
  std::string header = SafetensorsHeader(tensors, metadata);
  header.append((8 - header.size() % 8) % 8, ' ');
  return WriteAtomically(path, [&](std::FILE* f) -> Status {
    ByteSink sink(f);
    uint8_t len[8];
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    QUANTD_RETURN_IF_ERROR(sink.Write(len));
    QUANTD_RETURN_IF_ERROR(sink.Write({reinterpret_cast<const uint8_t*>(header.data()), header.size()}));
    for (const TensorToWrite& t : tensors) {
      const uint64_t before = sink.written();
      Status s = t.write(sink);
      if (!s.ok()) return s.WithContext(path + ": tensor '" + t.name + "'");
      if (sink.written() - before != ByteSize(t)) {
        return InternalError(path + ": tensor '" + t.name + "' produced " +
                             std::to_string(sink.written() - before) + " bytes, expected " +
                             std::to_string(ByteSize(t)));
      }
    }
    return OkStatus();
  });
}

}  // namespace quantd::client
