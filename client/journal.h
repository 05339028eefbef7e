// File: journal.h
//
// The resume journal of a quantization job: a folder beside the output (OUTPUT.journal/) holding
// one file per finished chunk. A chunk's file name is a hash of everything that determines its
// encoding (tensor, rows, method, resolved parameters, the content of its source bytes and
// calibration data), so re-running the same command finds the chunks it already has, and a
// changed input or parameter simply does not match. Each file carries a checksum of its
// contents and appears by rename, so a crash (even SIGKILL mid-write) never leaves a file that
// is read as valid; a damaged file is ignored and its chunk redone.
#ifndef QUANTD_CLIENT_JOURNAL_H_
#define QUANTD_CLIENT_JOURNAL_H_

#include <memory>
#include <string>

#include "chunk_executor.h"
#include "quantize_plan.h"

namespace quantd::client {

class Journal {
 public:
  // Opens (creating if needed) the journal folder `dir`.
  static StatusOr<std::unique_ptr<Journal>> Open(const std::string& dir);

  // The key of a chunk of `tensor`, whose source bytes are `source`.
  static std::string Key(const TensorPlan& tensor, const ChunkPlan& rows, std::span<const uint8_t> source);

  const std::string& dir() const { return dir_; }
  // Whether a file for `key` exists (it is verified when loaded).
  bool Contains(const std::string& key) const;
  // Records a finished chunk.
  Status Put(const std::string& key, const ChunkOutcome& outcome);
  // Reads a finished chunk; DATA_LOSS when the file is damaged, NOT_FOUND when absent.
  StatusOr<ChunkOutcome> Load(const std::string& key) const;
  // Deletes a damaged entry so that its chunk is redone.
  void Forget(const std::string& key);
  // Removes the whole folder (after the output was written).
  Status RemoveAll();

 private:
  std::string Path(const std::string& key) const;
  std::string dir_;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOURNAL_H_
