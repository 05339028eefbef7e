// File: checkpoint_writer.h
//
// Writes a whole output checkpoint: one .safetensors file, or a folder holding model.safetensors
// or, above --max-shard-size, shards model-0000K-of-0000N.safetensors with
// model.safetensors.index.json (Hugging Face's layout), plus the input's config and tokenizer
// files. A folder is built beside its destination and renamed into place at the end, so a
// reader never sees a half-written checkpoint: before the rename there is nothing at OUTPUT,
// after it the whole new one. Writing into an existing folder that holds files needs
// `overwrite`, and then replaces only the files written, never deleting any other.
#ifndef QUANTD_CLIENT_IO_CHECKPOINT_WRITER_H_
#define QUANTD_CLIENT_IO_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/io/safetensors_reader.h"
#include "client/io/safetensors_writer.h"

namespace quantd::client {

// Entries that must stay in one file (a tensor, or an encoded tensor's sections) and the
// metadata keys that describe them (written into that file's __metadata__).
struct TensorGroup {
  std::vector<TensorToWrite> entries;
  std::map<std::string, std::string> metadata;
  uint64_t bytes() const;
};

struct CheckpointWriteOptions {
  std::string output;                           // "x.safetensors" or a folder
  uint64_t max_shard_bytes = 0;                 // 0: never shard
  std::map<std::string, std::string> metadata;  // written into every file
  std::string side_files_from;                  // copy config/tokenizer files from this folder ("" none)
  // Folder outputs that exist and hold files: false refuses them (FAILED_PRECONDITION); true
  // replaces only the files this write produces, one rename each, and keeps every other file.
  bool overwrite = false;
};

// Checks an output path before any work: INVALID_ARGUMENT when it is the input checkpoint or
// lies inside the folder of a folder or index input (the write would replace or mix with the
// input), or when it is an existing folder holding files and `overwrite` is false.
Status CheckOutputPaths(const std::string& input, const std::string& output, bool overwrite);

// An input checkpoint's tensor copied unchanged; its pages are dropped once written, so that
// copying a large model keeps memory flat.
TensorToWrite CopyOfEntry(const Checkpoint::Entry& entry);

// Writes `groups` in order. Returns the files written (final paths).
StatusOr<std::vector<std::string>> WriteCheckpoint(const CheckpointWriteOptions& options,
                                                   std::vector<TensorGroup> groups);

// True for "x.safetensors" outputs, false for folders.
bool IsFileOutput(const std::string& output);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_IO_CHECKPOINT_WRITER_H_
