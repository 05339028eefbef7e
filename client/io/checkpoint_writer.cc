#include "client/io/checkpoint_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t EntryBytes(const TensorToWrite& t) {
  uint64_t n = DTypeSize(t.dtype);
  for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
  return n;
}

// Config, tokenizer and other small files that travel with a checkpoint.
bool IsSideFile(const std::string& name) {
  if (EndsWith(name, ".safetensors") || name == "model.safetensors.index.json") return false;
  return EndsWith(name, ".json") || name.rfind("tokenizer", 0) == 0 || EndsWith(name, ".model") ||
         EndsWith(name, ".tiktoken") || EndsWith(name, ".txt") || EndsWith(name, ".md");
}

Status WriteFile(const std::string& path, const std::vector<TensorGroup>& groups, size_t begin, size_t end,
                 std::map<std::string, std::string> metadata) {
  std::vector<TensorToWrite> entries;
  for (size_t g = begin; g < end; ++g) {
    for (const TensorToWrite& t : groups[g].entries) entries.push_back(t);
    for (const auto& [k, v] : groups[g].metadata) metadata[k] = v;
  }
  return WriteSafetensors(path, entries, metadata);
}

std::string ExistingFolderMessage(const std::string& out) {
  return "output folder " + out +
         " exists and holds files; pass --overwrite to replace the files this run writes (other files are "
         "kept)";
}

// The canonical form of `p` (as far as it exists), for comparing paths.
fs::path Canonical(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal() : c;
}

bool Inside(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

}  // namespace

Status CheckOutputPaths(const std::string& input, const std::string& output, bool overwrite) {
  std::error_code ec;
  const fs::path in = Canonical(input), out = Canonical(output);
  // A folder input, or an index file, owns its folder: its shards and side files live there.
  const bool folder_input = fs::is_directory(in, ec) || in.filename() == "model.safetensors.index.json";
  const fs::path in_root = fs::is_directory(in, ec) ? in : in.parent_path();
  if (out == in || (folder_input && Inside(out, in_root))) {
    return InvalidArgumentError("output " + output + " is the input checkpoint " + input +
                                (out == in ? "" : " or lies inside its folder") +
                                ": choose an output elsewhere, so that the input stays intact");
  }
  if (!IsFileOutput(output) && fs::is_directory(out, ec) && !fs::is_empty(out, ec) && !overwrite) {
    return InvalidArgumentError(ExistingFolderMessage(output));
  }
  return OkStatus();
}

uint64_t TensorGroup::bytes() const {
  uint64_t n = 0;
  for (const TensorToWrite& t : entries) n += EntryBytes(t);
  return n;
}

TensorToWrite CopyOfEntry(const Checkpoint::Entry& e) {
  TensorToWrite t =
      TensorToWrite::FromBytes(e.info->name, e.info->dtype, e.info->shape, e.file->Data(*e.info));
  auto inner = std::move(t.write);
  t.write = [inner = std::move(inner), &e](ByteSink& sink) {
    Status s = inner(sink);
    e.file->ReleasePages(e.file->Data(*e.info));
    return s;
  };
  return t;
}

bool IsFileOutput(const std::string& output) { return EndsWith(output, ".safetensors"); }

StatusOr<std::vector<std::string>> WriteCheckpoint(const CheckpointWriteOptions& o,
                                                   std::vector<TensorGroup> groups) {
  uint64_t total = 0;
  for (const TensorGroup& g : groups) total += g.bytes();
  if (IsFileOutput(o.output)) {
    if (o.max_shard_bytes > 0 && total > o.max_shard_bytes) {
      return InvalidArgumentError("output " + o.output + " would be " + std::to_string(total) +
                                  " bytes, above --max-shard-size: give a folder as OUTPUT to get shards");
    }
    const fs::path parent = fs::path(o.output).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    QUANTD_RETURN_IF_ERROR(WriteFile(o.output, groups, 0, groups.size(), o.metadata));
    return std::vector<std::string>{o.output};
  }

  // Shards: consecutive groups, each file at most max_shard_bytes (a larger group gets a file
  // of its own).
  std::vector<std::pair<size_t, size_t>> shards;
  size_t start = 0;
  uint64_t size = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const uint64_t b = groups[g].bytes();
    if (o.max_shard_bytes > 0 && g > start && size + b > o.max_shard_bytes) {
      shards.push_back({start, g});
      start = g;
      size = 0;
    }
    size += b;
  }
  shards.push_back({start, groups.size()});

  std::string out = o.output;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) {
    return InvalidArgumentError("output " + out + " exists and is not a folder");
  }
  const bool into_existing = fs::exists(out, ec) && !fs::is_empty(out, ec);
  if (into_existing && !o.overwrite) return FailedPreconditionError(ExistingFolderMessage(out));
  const std::string tmp = out + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return InternalError("cannot create " + tmp + ": " + ec.message());
  auto cleanup = [&] { fs::remove_all(tmp, ec); };

  std::vector<std::string> names;
  if (shards.size() == 1) {
    names.push_back("model.safetensors");
  } else {
    for (size_t i = 0; i < shards.size(); ++i) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
      names.push_back(buf);
    }
  }
  nlohmann::ordered_json index;
  index["metadata"]["total_size"] = total;
  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < shards.size(); ++i) {
    Status s =
        WriteFile((fs::path(tmp) / names[i]).string(), groups, shards[i].first, shards[i].second, o.metadata);
    if (!s.ok()) {
      cleanup();
      return s;
    }
    for (size_t g = shards[i].first; g < shards[i].second; ++g) {
      for (const TensorToWrite& t : groups[g].entries) weight_map[t.name] = names[i];
    }
  }
  if (shards.size() > 1) {
    index["weight_map"] = weight_map;
    Status s =
        WriteFileAtomically((fs::path(tmp) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
    if (!s.ok()) {
      cleanup();
      return s;
    }
  }
  if (!o.side_files_from.empty() && fs::is_directory(o.side_files_from, ec)) {
    for (const auto& e : fs::directory_iterator(o.side_files_from, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || !IsSideFile(name)) continue;
      fs::copy_file(e.path(), fs::path(tmp) / name, fs::copy_options::overwrite_existing, ec);
      if (ec) {
        cleanup();
        return InternalError("copying " + e.path().string() + ": " + ec.message());
      }
    }
  }
  if (!into_existing) {
    // The whole folder appears at once (an empty folder is replaced).
    fs::rename(tmp, out, ec);
    if (ec) {
      cleanup();
      return InternalError("cannot rename " + tmp + " to " + out + ": " + ec.message());
    }
  } else {
    // --overwrite: each file this write produced replaces its namesake, one rename at a time;
    // files it did not write are left alone.
    for (const auto& e : fs::directory_iterator(tmp, ec)) {
      fs::rename(e.path(), fs::path(out) / e.path().filename(), ec);
      if (ec) {
        cleanup();
        return InternalError("cannot move " + e.path().string() + " into " + out + ": " + ec.message());
      }
    }
    cleanup();
  }
  std::vector<std::string> files;
  for (const std::string& n : names) files.push_back((fs::path(out) / n).string());
  return files;
}

}  // namespace quantd::client
