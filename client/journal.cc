#include "journal.h"

#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "proto_convert.h"
#include "quantd/v1/quantizer.pb.h"

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[4] = {'Q', 'D', 'J', '1'};
// Bumped whenever the encoding of any method changes, so that old entries stop matching.
constexpr char kKeyVersion[] = "quantd-journal-1";

std::string Hex128(XXH128_hash_t h) {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

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

std::string Journal::Key(const TensorPlan& t, const ChunkPlan& rows, std::span<const uint8_t> source) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](const void* p, size_t n) { XXH3_128bits_update(st, p, n); };
  auto add_str = [&](const std::string& s) {
    const uint64_t n = s.size();
    add(&n, sizeof(n));
    add(s.data(), s.size());
  };
  add_str(kKeyVersion);
  add_str(t.name());
  for (int64_t d : t.entry->info->shape) add(&d, sizeof(d));
  add_str(std::string(DTypeName(t.entry->info->dtype)));
  add(&rows.row_begin, sizeof(rows.row_begin));
  add(&rows.row_end, sizeof(rows.row_end));
  add_str(t.method);
  add_str(t.params.ToString());
  add(source.data(), source.size());
  if (t.calibration) {
    add_str("column_max");
    add(t.calibration->column_max.data(), t.calibration->column_max.size() * sizeof(float));
    add_str("hessian");
    add(t.calibration->hessian.data(), t.calibration->hessian.size() * sizeof(float));
  }
  const std::string key = Hex128(XXH3_128bits_digest(st));
  XXH3_freeState(st);
  return key;
}

std::string Journal::Path(const std::string& key) const { return (fs::path(dir_) / (key + ".chunk")).string(); }

bool Journal::Contains(const std::string& key) const {
  std::error_code ec;
  return fs::exists(Path(key), ec);
}

Status Journal::Put(const std::string& key, const ChunkOutcome& o) {
  quantd::v1::QuantizeResponse r;
  proto::ToProto(o.result.encoding, r.mutable_encoding());
  proto::ToProto(o.result.error, o.result.encoding.BitsPerWeight(), r.mutable_metrics());
  r.set_server(o.worker);
  r.mutable_timings()->set_encode_seconds(o.seconds);
  const std::string payload = r.SerializeAsString();
  const uint32_t retries = static_cast<uint32_t>(o.retries);
  const uint64_t len = payload.size();
  const uint64_t sum = XXH3_64bits(payload.data(), payload.size());
  const std::string tmp = Path(key) + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return InternalError("journal: cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = std::fwrite(kMagic, 1, 4, f) == 4 && std::fwrite(&retries, 4, 1, f) == 1 && std::fwrite(&len, 8, 1, f) == 1 &&
            std::fwrite(&sum, 8, 1, f) == 1 && std::fwrite(payload.data(), 1, payload.size(), f) == payload.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), Path(key).c_str()) != 0) {
    std::remove(tmp.c_str());
    return InternalError("journal: cannot write " + Path(key) + ": " + std::strerror(errno));
  }
  return OkStatus();
}

StatusOr<ChunkOutcome> Journal::Load(const std::string& key) const {
  const std::string path = Path(key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("journal entry " + path + " is missing");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint32_t retries = 0;
  uint64_t len = 0, sum = 0;
  if (bytes.size() < 24 || memcmp(bytes.data(), kMagic, 4) != 0) return DataLossError("journal entry " + path + " is damaged");
  memcpy(&retries, bytes.data() + 4, 4);
  memcpy(&len, bytes.data() + 8, 8);
  memcpy(&sum, bytes.data() + 16, 8);
  if (len != bytes.size() - 24 || XXH3_64bits(bytes.data() + 24, len) != sum) {
    return DataLossError("journal entry " + path + " fails its checksum");
  }
  quantd::v1::QuantizeResponse r;
  if (!r.ParseFromArray(bytes.data() + 24, static_cast<int>(len))) return DataLossError("journal entry " + path + " does not parse");
  auto enc = proto::FromProto(r.encoding());
  if (!enc.ok()) return DataLossError("journal entry " + path + ": " + enc.status().message());
  ChunkOutcome o;
  o.result.encoding = std::move(*enc);
  o.result.error = proto::SumsFromProto(r.metrics());
  o.worker = r.server();
  o.seconds = r.timings().encode_seconds();
  o.retries = static_cast<int>(retries);
  return o;
}

void Journal::Forget(const std::string& key) {
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
