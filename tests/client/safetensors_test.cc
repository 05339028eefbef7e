#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "client/io/safetensors_reader.h"
#include "client/io/safetensors_writer.h"
#include "tests/testing/files.h"
#include "tests/testing/test_util.h"

namespace quantd::client {
namespace {

using ::quantd::testing::StatusIs;
using ::quantd::testing::TempDir;

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file made by hand: header length, header text, data.
std::string MakeFile(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

TEST(SafetensorsTest, WriterReaderIdentity) {
  TempDir dir;
  std::vector<float> a = testing::Gaussian(6, 1);
  std::vector<uint16_t> b = {1, 2, 3};
  std::vector<int64_t> c = {-5, 7};
  std::vector<uint8_t> empty;
  std::vector<TensorToWrite> tensors = {
      TensorToWrite::FromBytes("w.a", DType::kF32, {2, 3}, {reinterpret_cast<const uint8_t*>(a.data()), 24}),
      TensorToWrite::FromBytes("w.b", DType::kBF16, {3}, {reinterpret_cast<const uint8_t*>(b.data()), 6}),
      TensorToWrite::FromBytes("idx", DType::kI64, {1, 2}, {reinterpret_cast<const uint8_t*>(c.data()), 16}),
      TensorToWrite::FromBytes("nothing", DType::kF16, {0, 4}, empty),
  };
  const std::string path = dir / "t.safetensors";
  QUANTD_ASSERT_OK(WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "x\"y"}}));
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->metadata().at("note"), "x\"y");
  ASSERT_EQ((*f)->tensors().size(), 4u);
  const TensorInfo* ta = (*f)->Find("w.a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->dtype, DType::kF32);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
  auto da = (*f)->Data(*ta);
  ASSERT_EQ(da.size(), 24u);
  EXPECT_EQ(memcmp(da.data(), a.data(), 24), 0);
  EXPECT_EQ(memcmp((*f)->Data(*(*f)->Find("idx")).data(), c.data(), 16), 0);
  EXPECT_EQ((*f)->Find("nothing")->size_bytes(), 0u);
  // The data section starts 8-byte aligned: header length is a multiple of 8.
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  // Writing the same tensors again gives the same bytes.
  const std::string path2 = dir / "t2.safetensors";
  QUANTD_ASSERT_OK(WriteSafetensors(path2, tensors, {{"format", "pt"}, {"note", "x\"y"}}));
  std::ifstream i1(path, std::ios::binary), i2(path2, std::ios::binary);
  std::string s1((std::istreambuf_iterator<char>(i1)), {}), s2((std::istreambuf_iterator<char>(i2)), {});
  EXPECT_EQ(s1, s2);
}

TEST(SafetensorsTest, WriterRejectsBadInputAndLeavesNoFile) {
  TempDir dir;
  std::vector<float> a(4);
  auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), 16);
  const std::string path = dir / "bad.safetensors";
  EXPECT_THAT(WriteSafetensors(path,
                               {TensorToWrite::FromBytes("x", DType::kF32, {4}, bytes),
                                TensorToWrite::FromBytes("x", DType::kF32, {4}, bytes)},
                               {}),
              StatusIs(StatusCode::kInvalidArgument, "written twice"));
  // A producer that writes the wrong number of bytes fails the write and leaves nothing behind.
  EXPECT_THAT(WriteSafetensors(path, {TensorToWrite::FromBytes("x", DType::kF32, {5}, bytes)}, {}),
              StatusIs(StatusCode::kInternal, "produced 16 bytes, expected 20"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "temporary file left behind";
}

TEST(SafetensorsTest, FailedRewriteKeepsThePreviousFile) {
  TempDir dir;
  std::vector<float> a = {1, 2, 3, 4};
  auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), 16);
  const std::string path = dir / "keep.safetensors";
  QUANTD_ASSERT_OK(WriteSafetensors(path, {TensorToWrite::FromBytes("x", DType::kF32, {4}, bytes)}, {}));
  TensorToWrite failing;
  failing.name = "y";
  failing.dtype = DType::kF32;
  failing.shape = {4};
  failing.write = [](ByteSink&) { return InternalError("simulated crash"); };
  EXPECT_FALSE(WriteSafetensors(path, {failing}, {}).ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_NE((*f)->Find("x"), nullptr);
}

struct Malformed {
  const char* label;
  std::string file;
  const char* message;
};

TEST(SafetensorsTest, RejectsEveryMalformedFile) {
  TempDir dir;
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data8(8, '\0');
  std::string huge_len(8, '\xff');
  const std::vector<Malformed> cases = {
      {"empty", "", "too short"},
      {"short", "abc", "too short"},
      {"length past end", MakeFile(ok_header, data8).substr(0, 30), "exceeds the file"},
      {"huge length", huge_len + "{}", "exceeds the file"},
      {"not json", MakeFile("{not json}", ""), "not valid JSON"},
      // nlohmann::json reports a number past double's range as out_of_range, not parse_error.
      {"number overflow", MakeFile(R"({"a":{"dtype":"F32","shape":[5e12624],"data_offsets":[0,8]}})", data8),
       "not valid JSON"},
      {"not object", MakeFile("[1,2]   ", ""), "does not start with '{'"},
      {"unknown dtype", MakeFile(R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", data8),
       "unknown dtype 'F7'"},
      {"shape mismatch", MakeFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
       "shape needs 12 bytes"},
      {"negative dim", MakeFile(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
       "negative"},
      {"offset past end", MakeFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
       "past the data section"},
      {"begin after end", MakeFile(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8),
       "begin > end"},
      {"overlap",
       MakeFile(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           data8),
       "overlapping"},
      {"gap", MakeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8), "leaving a gap"},
      {"trailing data", MakeFile(ok_header, data8 + "xxxx"), "cover 8 of the 12"},
      {"duplicate",
       MakeFile(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           data8),
       "names 'a' twice"},
      {"metadata not strings",
       MakeFile(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data8),
       "not a string"},
      {"missing offsets", MakeFile(R"({"a":{"dtype":"F32","shape":[2]}})", data8), "data_offsets"},
      {"unknown field", MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", data8),
       "unknown field 'x'"},
      {"absurd shape",
       MakeFile(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})", data8),
       "absurdly large"},
  };
  for (const Malformed& c : cases) {
    const std::string path = dir / "m.safetensors";
    WriteRaw(path, c.file);
    auto f = SafetensorsFile::Open(path);
    EXPECT_THAT(f, StatusIs(StatusCode::kInvalidArgument, c.message)) << c.label;
    if (!f.ok()) {
      EXPECT_NE(f.status().message().find(path), std::string::npos) << "error must name the file";
    }
  }
  EXPECT_THAT(SafetensorsFile::Open(dir / "absent.safetensors"),
              StatusIs(StatusCode::kNotFound, "cannot open"));
}

// Every truncation of a valid file is rejected cleanly (no crash, clear error).
TEST(SafetensorsTest, EveryTruncationIsRejected) {
  TempDir dir;
  std::vector<float> a = testing::Gaussian(16, 3);
  const std::string path = dir / "full.safetensors";
  QUANTD_ASSERT_OK(WriteSafetensors(
      path,
      {TensorToWrite::FromBytes("a", DType::kF32, {4, 4}, {reinterpret_cast<const uint8_t*>(a.data()), 64})},
      {}));
  std::ifstream in(path, std::ios::binary);
  std::string full((std::istreambuf_iterator<char>(in)), {});
  for (size_t n = 0; n < full.size(); ++n) {
    const std::string p = dir / "cut.safetensors";
    WriteRaw(p, full.substr(0, n));
    EXPECT_FALSE(SafetensorsFile::Open(p).ok()) << "truncated to " << n << " bytes";
  }
}

TEST(SafetensorsTest, ShardedCheckpointWithIndex) {
  TempDir dir;
  std::vector<float> a = {1, 2}, b = {3, 4, 5};
  QUANTD_ASSERT_OK(WriteSafetensors(
      dir / "model-00001-of-00002.safetensors",
      {TensorToWrite::FromBytes("a", DType::kF32, {2}, {reinterpret_cast<const uint8_t*>(a.data()), 8})},
      {}));
  QUANTD_ASSERT_OK(WriteSafetensors(
      dir / "model-00002-of-00002.safetensors",
      {TensorToWrite::FromBytes("b", DType::kF32, {3}, {reinterpret_cast<const uint8_t*>(b.data()), 12})},
      {}));
  WriteRaw(
      dir / "model.safetensors.index.json",
      R"({"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  for (const std::string& p : {dir.path().string(), dir / "model.safetensors.index.json"}) {
    auto ck = Checkpoint::Open(p);
    ASSERT_TRUE(ck.ok()) << ck.status().ToString();
    EXPECT_TRUE((*ck)->sharded());
    ASSERT_EQ((*ck)->tensors().size(), 2u);
    EXPECT_EQ((*ck)->tensors()[0].info->name, "a");
    const auto* e = (*ck)->Find("b");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(memcmp(e->file->Data(*e->info).data(), b.data(), 12), 0);
  }
  WriteRaw(
      dir / "model.safetensors.index.json",
      R"({"weight_map":{"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
  EXPECT_THAT(Checkpoint::Open(dir.path().string()),
              StatusIs(StatusCode::kInvalidArgument, "tensor 'c' is mapped to"));
  WriteRaw(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"../etc/passwd"}})");
  EXPECT_THAT(Checkpoint::Open(dir.path().string()),
              StatusIs(StatusCode::kInvalidArgument, "plain file name"));
  WriteRaw(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"missing.safetensors"}})");
  EXPECT_THAT(Checkpoint::Open(dir.path().string()), StatusIs(StatusCode::kNotFound, "missing.safetensors"));
  WriteRaw(dir / "model.safetensors.index.json", R"({"weight_map":)");
  EXPECT_THAT(Checkpoint::Open(dir.path().string()),
              StatusIs(StatusCode::kInvalidArgument, "not valid JSON"));
}

}  // namespace
}  // namespace quantd::client
