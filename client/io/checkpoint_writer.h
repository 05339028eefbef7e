// File: checkpoint_writer.h
//
// Writes a whole output checkpoint: one .safetensors file, or a folder holding model.safetensors
// or, above --max-shard-size, shards model-0000K-of-0000N.safetensors with
// model.safetensors.index.json (Hugging Face's layout), plus the input's config and tokenizer
// files. A folder is built beside its destination and renamed into place at the end, so a
// reader never sees a half-written checkpoint: before the rename there is nothing at OUTPUT (or
// the previous complete one), after it the whole new one.
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
};

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
