#include "client/job/journal.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

}  // namespace

StatusOr<std::unique_ptr<Journal>> Journal::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create journal folder " + dir + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".tmp") fs::remove(e.path(), ec);  // left by a killed run
  }
  auto j = std::unique_ptr<Journal>(new Journal());
  j->dir_ = dir;
  return j;
}

std::string Journal::Path(const ChunkKey& key) const {
  return (fs::path(dir_) / (key.Hex() + ".chunk")).string();
}

bool Journal::Contains(const ChunkKey& key) const {
  std::error_code ec;
  return fs::exists(Path(key), ec);
}

Status Journal::Put(const ChunkRecord& record) const {
  const std::string path = Path(record.key);
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return InternalError("journal: cannot create " + tmp + ": " + std::strerror(errno));
  Status s = WriteChunkRecord(record, [&](std::span<const uint8_t> piece) -> Status {
    if (std::fwrite(piece.data(), 1, piece.size(), f) != piece.size()) {
      return InternalError("journal: cannot write " + tmp + ": " + std::strerror(errno));
    }
    return OkStatus();
  });
  const bool closed = std::fclose(f) == 0;
  if (s.ok() && !closed) s = InternalError("journal: cannot write " + tmp + ": " + std::strerror(errno));
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = InternalError("journal: cannot rename " + tmp + ": " + std::strerror(errno));
  }
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

StatusOr<std::unique_ptr<JournalEntry>> Journal::Load(const ChunkKey& key, bool verify) const {
  const std::string path = Path(key);
  auto file = MappedFile::Open(path);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound)
      return NotFoundError("journal entry " + path + " is missing");
    return DataLossError("journal entry " + path + ": " + file.status().message());
  }
  auto view = ParseChunkRecord((*file)->bytes(), verify);
  if (!view.ok()) return DataLossError("journal entry " + path + ": " + view.status().message());
  if (!(view->key == key)) return DataLossError("journal entry " + path + " holds another chunk's record");
  return std::make_unique<JournalEntry>(std::move(*file), std::move(*view));
}

void Journal::Forget(const ChunkKey& key) const {
  std::error_code ec;
  fs::remove(Path(key), ec);
}

Status Journal::RemoveAll() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) return InternalError("cannot remove journal " + dir_ + ": " + ec.message());
  return OkStatus();
}

}  // namespace quantd::client
