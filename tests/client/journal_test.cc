// The resume journal (client/job/journal.h): records stored and read back exactly, damage and
// stray files detected, left-over temporary files cleaned up.
#include "client/job/journal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/files.h"
#include "tests/testing/test_util.h"

namespace quantd::client {
namespace {

using ::quantd::testing::StatusIs;
using ::quantd::testing::TempDir;

ChunkRecord Record(uint64_t key_low) {
  const auto w = testing::Gaussian(4 * 64, key_low, 0.02f);
  const std::vector<int64_t> shape = {4, 64};
  const Chunk chunk{.tensor_name = "t", .shape = shape, .rows = 4, .cols = 64, .data = w};
  auto r = EncodeAndMeasure(chunk, "rtn", {});
  EXPECT_TRUE(r.ok());
  return ChunkRecord{.tensor = "t",
                     .result = std::move(*r),
                     .key = {1, key_low},
                     .provenance = {.worker = "in-process", .seconds = 0.5}};
}

TEST(JournalTest, PutThenLoadGivesTheRecord) {
  TempDir dir;
  auto j = Journal::Open(dir / "j");
  ASSERT_TRUE(j.ok());
  const ChunkRecord rec = Record(7);
  EXPECT_FALSE((*j)->Contains(rec.key));
  EXPECT_THAT((*j)->Load(rec.key), StatusIs(StatusCode::kNotFound, "missing"));
  QUANTD_ASSERT_OK((*j)->Put(rec));
  EXPECT_TRUE((*j)->Contains(rec.key));
  auto e = (*j)->Load(rec.key);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->view().ToEncoding(), rec.result.encoding);
  EXPECT_EQ((*e)->view().provenance.worker, "in-process");
  EXPECT_TRUE(std::filesystem::exists(dir / ("j/" + rec.key.Hex() + ".chunk")));
  (*j)->Forget(rec.key);
  EXPECT_FALSE((*j)->Contains(rec.key));
  QUANTD_ASSERT_OK((*j)->RemoveAll());
  EXPECT_FALSE(std::filesystem::exists(dir / "j"));
}

TEST(JournalTest, DamagedAndMisplacedRecordsAreDataLoss) {
  TempDir dir;
  auto j = Journal::Open(dir / "j");
  ASSERT_TRUE(j.ok());
  const ChunkRecord a = Record(1), b = Record(2);
  QUANTD_ASSERT_OK((*j)->Put(a));
  const std::string path = dir / ("j/" + a.key.Hex() + ".chunk");
  const auto size = std::filesystem::file_size(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put('\x5a');
  }
  EXPECT_THAT((*j)->Load(a.key), StatusIs(StatusCode::kDataLoss, "checksum"));
  std::filesystem::resize_file(path, 100);
  EXPECT_THAT((*j)->Load(a.key), StatusIs(StatusCode::kDataLoss, path));
  // A valid record under another chunk's name.
  QUANTD_ASSERT_OK((*j)->Put(b));
  std::filesystem::copy_file(dir / ("j/" + b.key.Hex() + ".chunk"), path,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_THAT((*j)->Load(a.key), StatusIs(StatusCode::kDataLoss, "another chunk's record"));
}

// A killed run leaves "*.tmp" files: opening the journal removes them, and they never count.
TEST(JournalTest, TemporaryFilesOfAKilledRunAreRemoved) {
  TempDir dir;
  std::filesystem::create_directories(dir / "j");
  std::ofstream(dir / "j/0123.chunk.tmp") << "partial";
  auto j = Journal::Open(dir / "j");
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "j/0123.chunk.tmp"));
}

}  // namespace
}  // namespace quantd::client
