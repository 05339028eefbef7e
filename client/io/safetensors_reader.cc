#include "client/io/safetensors_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace quantd::client {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Status Err(const std::string& path, const std::string& what) {
  return InvalidArgumentError(path + ": " + what);
}

// Parses JSON, rejecting duplicate keys in the top-level object (nlohmann would keep the last).
StatusOr<json> ParseJsonObject(std::string_view text, const std::string& path) {
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    return Err(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) return Err(path, "header names '" + duplicate + "' twice");
  if (!j.is_object()) return Err(path, "header is not a JSON object");
  return j;
}

}  // namespace

StatusOr<std::vector<TensorInfo>> SafetensorsFile::ParseHeader(std::string_view header_json,
                                                               uint64_t data_size,
                                                               std::map<std::string, std::string>* metadata,
                                                               const std::string& path) {
  QUANTD_ASSIGN_OR_RETURN(json j, ParseJsonObject(header_json, path));
  std::vector<TensorInfo> tensors;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return Err(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          return Err(path, "__metadata__ value of '" + m.key() + "' is not a string");
        }
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string who = "tensor '" + name + "'";
    if (!v.is_object()) return Err(path, who + " is not an object");
    for (auto f = v.begin(); f != v.end(); ++f) {
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets") {
        return Err(path, who + " has unknown field '" + f.key() + "'");
      }
    }
    if (!v.contains("dtype") || !v["dtype"].is_string()) return Err(path, who + " has no dtype string");
    const std::string dtype_name = v["dtype"].get<std::string>();
    auto dtype = ParseDType(dtype_name);
    if (!dtype) return Err(path, who + " has unknown dtype '" + dtype_name + "'");
    if (!v.contains("shape") || !v["shape"].is_array()) return Err(path, who + " has no shape array");
    TensorInfo t;
    t.name = name;
    t.dtype = *dtype;
    uint64_t elements = 1;
    for (const json& d : v["shape"]) {
      if (!d.is_number_unsigned()) return Err(path, who + " shape has a non-integer or negative dimension");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t{1} << 40) || (dim != 0 && elements > (uint64_t{1} << 40) / dim)) {
        return Err(path, who + " shape is absurdly large");
      }
      elements *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2 ||
        !v["data_offsets"][0].is_number_unsigned() || !v["data_offsets"][1].is_number_unsigned()) {
      return Err(path, who + " data_offsets must be [begin, end] non-negative integers");
    }
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.begin > t.end) return Err(path, who + " data_offsets begin > end");
    if (t.end > data_size) {
      return Err(path, who + " data_offsets end " + std::to_string(t.end) + " is past the data section (" +
                           std::to_string(data_size) + " bytes); the file may be truncated");
    }
    if (elements * DTypeSize(t.dtype) != t.size_bytes()) {
      return Err(path, who + " shape needs " + std::to_string(elements * DTypeSize(t.dtype)) + " bytes of " +
                           dtype_name + " but data_offsets span " + std::to_string(t.size_bytes()));
    }
    tensors.push_back(std::move(t));
  }
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  for (const TensorInfo& t : tensors) {
    if (t.begin != expect) {
      return Err(path, "tensor '" + t.name + "' starts at byte " + std::to_string(t.begin) +
                           (t.begin < expect ? ", overlapping the previous tensor" : ", leaving a gap") +
                           " (expected " + std::to_string(expect) + ")");
    }
    expect = t.end;
  }
  if (expect != data_size) {
    return Err(path, "tensors cover " + std::to_string(expect) + " of the " + std::to_string(data_size) +
                         " data bytes");
  }
  return tensors;
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  QUANTD_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path));
  const uint64_t size = mapped->bytes().size();
  if (size < 8) {
    return Err(path, "file of " + std::to_string(size) + " bytes is too short for a safetensors header");
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->file_ = std::move(mapped);
  const uint8_t* map = f->file_->bytes().data();
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(map[i]) << (8 * i);
  if (header_len > size - 8) {
    return Err(path, "header length " + std::to_string(header_len) + " exceeds the file's " +
                         std::to_string(size - 8) +
                         " remaining bytes; the file is truncated or not safetensors");
  }
  if (header_len > kMaxHeaderBytes)
    return Err(path, "header length " + std::to_string(header_len) + " exceeds 100 MiB");
  if (header_len < 2 || map[8] != '{') return Err(path, "header does not start with '{'");
  f->data_start_ = 8 + header_len;
  const std::string_view header(reinterpret_cast<const char*>(map + 8), header_len);
  QUANTD_ASSIGN_OR_RETURN(f->tensors_, ParseHeader(header, size - f->data_start_, &f->metadata_, path));
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->by_name_[f->tensors_[i].name] = i;
  return f;
}

SafetensorsFile::~SafetensorsFile() = default;

uint64_t SafetensorsFile::file_size() const { return file_->bytes().size(); }

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> SafetensorsFile::Data(const TensorInfo& t) const {
  return file_->bytes().subspan(data_start_ + t.begin, t.size_bytes());
}

void SafetensorsFile::ReleasePages(std::span<const uint8_t> bytes) const { file_->ReleasePages(bytes); }

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& path) {
  std::error_code ec;
  auto ck = std::make_unique<Checkpoint>();
  std::string index_path;
  std::vector<std::string> shard_paths;
  if (fs::is_directory(path, ec)) {
    ck->directory_ = path;
    const fs::path idx = fs::path(path) / "model.safetensors.index.json";
    if (fs::exists(idx, ec)) {
      index_path = idx.string();
    } else {
      for (const auto& e : fs::directory_iterator(path, ec)) {
        if (e.path().extension() == ".safetensors") shard_paths.push_back(e.path().string());
      }
      if (shard_paths.size() != 1) {
        return InvalidArgumentError(path + ": folder has " + std::to_string(shard_paths.size()) +
                                    " .safetensors files and no model.safetensors.index.json");
      }
    }
  } else if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
    index_path = path;
    ck->directory_ = fs::path(path).parent_path().string();
  } else {
    shard_paths.push_back(path);
    ck->directory_ = fs::path(path).parent_path().string();
  }
  if (ck->directory_.empty()) ck->directory_ = ".";

  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  if (!index_path.empty()) {
    ck->sharded_ = true;
    std::ifstream in(index_path, std::ios::binary);
    if (!in) return NotFoundError(index_path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    QUANTD_ASSIGN_OR_RETURN(json j, ParseJsonObject(text, index_path));
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      return InvalidArgumentError(index_path + ": no \"weight_map\" object");
    }
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        return InvalidArgumentError(index_path + ": weight_map value of '" + it.key() + "' is not a string");
      const std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == ".." || file.empty()) {
        return InvalidArgumentError(index_path + ": shard name '" + file + "' must be a plain file name");
      }
      weight_map[it.key()] = file;
      shards.insert(file);
    }
    for (const std::string& s : shards) shard_paths.push_back((fs::path(ck->directory_) / s).string());
  }
  std::sort(shard_paths.begin(), shard_paths.end());
  if (shard_paths.empty()) return InvalidArgumentError(index_path + ": the index names no shards");
  for (const std::string& p : shard_paths) {
    QUANTD_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(p));
    ck->files_.push_back(std::move(f));
  }
  for (const auto& f : ck->files_) {
    const std::string base = fs::path(f->path()).filename().string();
    for (const TensorInfo& t : f->tensors()) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(t.name);
        if (it == weight_map.end() || it->second != base) continue;  // not this shard's per the index
      }
      if (ck->by_name_.count(t.name)) {
        return InvalidArgumentError(f->path() + ": tensor '" + t.name + "' also appears in another shard");
      }
      ck->by_name_[t.name] = 0;
      ck->tensors_.push_back({f.get(), &t});
    }
  }
  for (const auto& [name, file] : weight_map) {
    if (!ck->by_name_.count(name)) {
      return InvalidArgumentError(index_path + ": tensor '" + name + "' is mapped to " + file +
                                  ", which does not contain it");
    }
  }
  std::sort(ck->tensors_.begin(), ck->tensors_.end(),
            [](const Entry& a, const Entry& b) { return a.info->name < b.info->name; });
  for (size_t i = 0; i < ck->tensors_.size(); ++i) ck->by_name_[ck->tensors_[i].info->name] = i;
  return ck;
}

const Checkpoint::Entry* Checkpoint::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f->file_size();
  return n;
}

}  // namespace quantd::client
