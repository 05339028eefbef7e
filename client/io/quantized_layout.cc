#include "client/io/quantized_layout.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

namespace quantd::client {
namespace {

using nlohmann::json;

// JSON has no infinity: an exact reconstruction's SQNR is written as null.
json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

std::string SectionEntryName(std::string_view tensor, std::string_view section) {
  std::string s(tensor);
  s += '/';
  s += section;
  return s;
}

std::string EncodedTensorMetadata(const FlatTensorEncoding& flat, const Metrics* metrics) {
  nlohmann::ordered_json j;
  j["method"] = flat.method;
  j["params"] = flat.params.entries();
  j["shape"] = flat.shape;
  j["dtype"] = std::string(DTypeName(flat.source_dtype));
  j["sections"] = flat.section_names;
  j["slices"] = flat.sections.back().shape[0];
  j["bits_per_weight"] = flat.BitsPerWeight();
  if (!flat.stats.empty()) j["stats"] = flat.stats;
  if (metrics != nullptr) {
    j["sqnr_db"] = Number(metrics->sqnr_db);
    j["relative_error"] = Number(metrics->relative_error);
    j["mse"] = Number(metrics->mse);
    j["max_abs_error"] = Number(metrics->max_abs_error);
  }
  return j.dump();
}

std::map<std::string, std::string> QuantizedFileMetadata(const std::map<std::string, std::string>& input) {
  std::map<std::string, std::string> m = input;
  m.erase("format");
  m[kCheckpointFormatKey] = kCheckpointFormatVersion;
  return m;
}

std::map<std::string, std::string> DecodedFileMetadata(const std::map<std::string, std::string>& quantized) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : quantized) {
    if (k != kCheckpointFormatKey && k.rfind(kTensorKeyPrefix, 0) != 0) m[k] = v;
  }
  m["format"] = "pt";
  return m;
}

StatusOr<TensorGroup> EncodedTensorGroup(const std::string& name, const FlatTensorEncoding& flat,
                                         const Metrics& metrics, SectionWriter write_section,
                                         const std::function<bool(const std::string&)>& taken) {
  TensorGroup g;
  g.metadata[kTensorKeyPrefix + name] = EncodedTensorMetadata(flat, &metrics);
  auto writer = std::make_shared<SectionWriter>(std::move(write_section));
  for (size_t k = 0; k < flat.sections.size(); ++k) {
    const Section& s = flat.sections[k];
    TensorToWrite t;
    t.name = SectionEntryName(name, s.name);
    if (taken(t.name)) {
      return InvalidArgumentError("tensor '" + name + "': section name '" + t.name +
                                  "' collides with an input tensor");
    }
    t.dtype = s.dtype;
    t.shape = s.shape;
    if (k + 1 == flat.sections.size()) {
      t.write = [&s](ByteSink& sink) { return sink.Write(s.data); };  // the slice index, in memory
    } else {
      t.write = [writer, k](ByteSink& sink) { return (*writer)(k, sink); };
    }
    g.entries.push_back(std::move(t));
  }
  return g;
}

StatusOr<std::unique_ptr<QuantizedCheckpoint>> QuantizedCheckpoint::Open(const std::string& path) {
  auto q = std::unique_ptr<QuantizedCheckpoint>(new QuantizedCheckpoint());
  QUANTD_ASSIGN_OR_RETURN(q->checkpoint_, Checkpoint::Open(path));
  std::map<std::string, std::string> tensor_meta;
  bool any_format = false;
  for (const auto& f : q->checkpoint_->files()) {
    for (const auto& [k, v] : f->metadata()) {
      if (k == kCheckpointFormatKey) {
        if (v != kCheckpointFormatVersion) {
          return InvalidArgumentError(f->path() + ": quantd format version '" + v +
                                      "' is not supported (this build reads version " +
                                      kCheckpointFormatVersion + ")");
        }
        any_format = true;
      } else if (k.rfind(kTensorKeyPrefix, 0) == 0) {
        tensor_meta[k.substr(sizeof(kTensorKeyPrefix) - 1)] = v;
      }
    }
  }
  if (!any_format && !tensor_meta.empty()) {
    return InvalidArgumentError(path + ": encoded tensors but no '" + std::string(kCheckpointFormatKey) +
                                "' key");
  }
  std::set<std::string> section_entries;
  for (const auto& [name, text] : tensor_meta) {
    EncodedInfo info;
    info.name = name;
    info.metadata_json = text;
    json j;
    try {
      j = json::parse(text);
      info.method = j.at("method").get<std::string>();
      info.shape = j.at("shape").get<std::vector<int64_t>>();
      const std::string dt = j.at("dtype").get<std::string>();
      auto d = ParseDType(dt);
      if (!d) return InvalidArgumentError(path + ": tensor '" + name + "' has unknown dtype '" + dt + "'");
      info.source_dtype = *d;
      for (const auto& s : j.at("sections"))
        section_entries.insert(SectionEntryName(name, s.get<std::string>()));
    } catch (const json::exception& e) {
      return InvalidArgumentError(path + ": metadata of tensor '" + name + "' is malformed: " + e.what());
    }
    section_entries.insert(SectionEntryName(name, kSliceIndexSection));
    q->encoded_.push_back(std::move(info));
  }
  for (const auto& e : q->checkpoint_->tensors()) {
    if (!section_entries.count(e.info->name)) q->plain_.push_back(&e);
  }
  return q;
}

StatusOr<FlatTensorEncoding> QuantizedCheckpoint::Load(const EncodedInfo& info) const {
  const std::string who = "tensor '" + info.name + "'";
  FlatTensorEncoding flat;
  flat.method = info.method;
  flat.shape = info.shape;
  flat.source_dtype = info.source_dtype;
  try {
    json j = json::parse(info.metadata_json);
    for (auto it = j.at("params").begin(); it != j.at("params").end(); ++it) {
      flat.params.Set(it.key(), it.value().get<std::string>());
    }
    flat.section_names = j.at("sections").get<std::vector<std::string>>();
    if (j.contains("stats")) flat.stats = j["stats"].get<std::map<std::string, double>>();
  } catch (const json::exception& e) {
    return InvalidArgumentError(who + ": malformed metadata: " + e.what());
  }
  std::vector<std::string> names = flat.section_names;
  names.push_back(kSliceIndexSection);
  for (const std::string& s : names) {
    const std::string entry = SectionEntryName(info.name, s);
    const Checkpoint::Entry* e = checkpoint_->Find(entry);
    if (e == nullptr) return InvalidArgumentError(who + ": section entry '" + entry + "' is missing");
    Section sec;
    sec.name = s;
    sec.dtype = e->info->dtype;
    sec.shape = e->info->shape;
    auto bytes = e->file->Data(*e->info);
    sec.data.assign(bytes.begin(), bytes.end());
    flat.sections.push_back(std::move(sec));
  }
  return flat;
}

}  // namespace quantd::client
