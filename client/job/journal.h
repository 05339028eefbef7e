// File: journal.h
//
// The resume journal of a quantization job: a folder beside the output (OUTPUT.journal/) holding
// one chunk record (core/record/chunk_record.h) per finished chunk. A record's file name is its
// chunk key, a hash of everything that determines the encoding (tensor, rows, method, resolved
// parameters, the content of its source bytes and calibration data), so re-running the same
// command finds the chunks it already has, and a changed input or parameter simply does not
// match. Records carry a checksum and appear by rename, so a crash (even SIGKILL mid-write)
// never leaves a file that is read as valid; a damaged record is ignored and its chunk redone.
#ifndef QUANTD_CLIENT_JOB_JOURNAL_H_
#define QUANTD_CLIENT_JOB_JOURNAL_H_

#include <memory>
#include <string>

#include "client/io/mapped_file.h"
#include "core/record/chunk_record.h"

namespace quantd::client {

// A record read back from the journal: the mapped file and its parsed view (whose section
// bytes point into the mapping).
class JournalEntry {
 public:
  JournalEntry(std::unique_ptr<MappedFile> file, ChunkRecordView view)
      : file_(std::move(file)), view_(std::move(view)) {}
  const ChunkRecordView& view() const { return view_; }
  const MappedFile& file() const { return *file_; }

 private:
  std::unique_ptr<MappedFile> file_;
  ChunkRecordView view_;
};

class Journal {
 public:
  // Opens (creating if needed) the journal folder `dir`; removes temporary files a killed run
  // left.
  static StatusOr<std::unique_ptr<Journal>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // Whether a record for `key` exists (it is verified when loaded).
  bool Contains(const ChunkKey& key) const;
  // Records a finished chunk under record.key.
  Status Put(const ChunkRecord& record) const;
  // The record of `key`: NOT_FOUND when absent, DATA_LOSS when damaged (bad checksum, or a key
  // that is not its own). `verify`: check the checksum (reads every byte once).
  StatusOr<std::unique_ptr<JournalEntry>> Load(const ChunkKey& key, bool verify = true) const;
  // Deletes a damaged record so that its chunk is redone.
  void Forget(const ChunkKey& key) const;
  // Removes the whole folder (after the output was written).
  Status RemoveAll();

 private:
  std::string Path(const ChunkKey& key) const;
  std::string dir_;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_JOURNAL_H_
