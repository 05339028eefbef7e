#include "client/job/quantize_job.h"

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "client/io/quantized_layout.h"
#include "client/io/safetensors_writer.h"
#include "client/job/dequantize_job.h"
#include "client/model/llama2c_converter.h"
#include "tests/testing/files.h"
#include "tests/testing/test_util.h"

namespace quantd::client {
namespace {

using ::quantd::testing::StatusIs;
using ::quantd::testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(Llama2cTest, ConvertsBothRealModelsWithKnownParameterCounts) {
  TempDir dir;
  auto s =
      ConvertLlama2cToSafetensors(testing::DataFile("stories260K/stories260K.bin"), dir / "s.safetensors");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->parameter_count(), 260032);
  EXPECT_EQ(s->hidden_dim, 172);
  EXPECT_TRUE(s->shared_classifier);
  auto e = ConvertLlama2cToSafetensors(testing::DataFile("en10_babyllama_tok105/model5000.bin"),
                                       dir / "e.safetensors");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->dim, 128);
  EXPECT_EQ(e->vocab_size, 105);
  auto ck = Checkpoint::Open(dir / "s.safetensors");
  ASSERT_TRUE(ck.ok());
  int64_t total = 0;
  for (const auto& t : (*ck)->tensors()) total += static_cast<int64_t>(t.info->size_bytes() / 4);
  EXPECT_EQ(total, 260032);
  EXPECT_EQ((*ck)->tensors().size(), 47u);
  const auto* w2 = (*ck)->Find("layers.4.feed_forward.w2.weight");
  ASSERT_NE(w2, nullptr);
  EXPECT_EQ(w2->info->shape, (std::vector<int64_t>{64, 172}));
  auto cfg = Llama2cConfig::FromMetadata((*ck)->metadata());
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->n_kv_heads, 4);
}

TEST(Llama2cTest, RejectsTruncatedAndImplausibleFiles) {
  TempDir dir;
  const std::string bytes = ReadAll(testing::DataFile("stories260K/stories260K.bin"));
  std::ofstream(dir / "cut.bin", std::ios::binary).write(bytes.data(), 5000);
  EXPECT_THAT(ConvertLlama2cToSafetensors(dir / "cut.bin", dir / "o.safetensors"),
              StatusIs(StatusCode::kInvalidArgument, "truncated"));
  std::string bad = bytes;
  bad[0] = 0;  // dim = 0 (little-endian 64 -> 0)
  std::ofstream(dir / "bad.bin", std::ios::binary)
      .write(bad.data(), static_cast<std::streamsize>(bad.size()));
  EXPECT_THAT(ConvertLlama2cToSafetensors(dir / "bad.bin", dir / "o.safetensors"),
              StatusIs(StatusCode::kInvalidArgument, "not plausible"));
  EXPECT_FALSE(std::filesystem::exists(dir / "o.safetensors"));
}

class QuantizeJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_ / "s.safetensors";
    ASSERT_TRUE(ConvertLlama2cToSafetensors(testing::DataFile("stories260K/stories260K.bin"), model_).ok());
  }
  StatusOr<JobReport> Quantize(const std::string& out, PlanOptions plan) {
    QuantizeJobOptions o;
    o.input = model_;
    o.output = out;
    o.plan = std::move(plan);
    LocalExecutor ex;
    return RunQuantizeJob(o, ex, nullptr);
  }
  TempDir dir_;
  std::string model_;
};

TEST_F(QuantizeJobTest, RoundTripOnRealWeightsAboveFloors) {
  for (int bits : {4, 8}) {
    PlanOptions plan;
    plan.params.SetInt("bits", bits);
    const std::string q = dir_ / ("q" + std::to_string(bits) + ".safetensors");
    auto report = Quantize(q, plan);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    int quantized = 0;
    for (const TensorReport& t : report->tensors) {
      if (!t.quantized) continue;
      ++quantized;
      // Floors observed on stories260K with margin: 4-bit ~19.4..22.4 dB, 8-bit ~43..46 dB.
      EXPECT_GT(t.metrics.sqnr_db, bits == 4 ? 18.5 : 42.0) << t.name;
      EXPECT_LT(t.metrics.bits_per_weight, bits + 0.5) << t.name;
    }
    EXPECT_EQ(quantized, 35);
    // Decoding through the file gives the same values the job measured.
    const std::string d = dir_ / ("d" + std::to_string(bits) + ".safetensors");
    QUANTD_ASSERT_OK(RunDequantizeJob({q, d, std::nullopt}, nullptr));
    auto orig = Checkpoint::Open(model_);
    auto back = Checkpoint::Open(d);
    ASSERT_TRUE(orig.ok() && back.ok());
    ASSERT_EQ((*orig)->tensors().size(), (*back)->tensors().size());
    for (const TensorReport& t : report->tensors) {
      const auto* a = (*orig)->Find(t.name);
      const auto* b = (*back)->Find(t.name);
      ASSERT_NE(b, nullptr) << t.name;
      ASSERT_EQ(a->info->shape, b->info->shape);
      auto da = a->file->Data(*a->info);
      auto db = b->file->Data(*b->info);
      if (!t.quantized) {
        EXPECT_TRUE(std::equal(da.begin(), da.end(), db.begin(), db.end()))
            << "copy of " << t.name << " changed";
        continue;
      }
      std::vector<float> x(da.size() / 4), y(db.size() / 4);
      memcpy(x.data(), da.data(), da.size());
      memcpy(y.data(), db.data(), db.size());
      EXPECT_NEAR(testing::SqnrDb(x, y), t.metrics.sqnr_db, 1e-6) << t.name;
    }
  }
}

// The same job gives the same bytes whatever the thread count; RTN's per-row encoding also
// makes the output independent of the chunk size.
TEST_F(QuantizeJobTest, OutputIsDeterministic) {
  PlanOptions small;
  small.chunk_bytes = 1000;
  PlanOptions big;
  std::string a = dir_ / "a.safetensors", b = dir_ / "b.safetensors", c = dir_ / "c.safetensors";
  tbb::task_arena(1).execute([&] { ASSERT_TRUE(Quantize(a, small).ok()); });
  tbb::task_arena(2).execute([&] { ASSERT_TRUE(Quantize(b, small).ok()); });
  ASSERT_TRUE(Quantize(c, big).ok());
  EXPECT_EQ(ReadAll(a), ReadAll(b));
  // Slice index differs with chunking, but every section's bytes are the same.
  auto qa = QuantizedCheckpoint::Open(a);
  auto qc = QuantizedCheckpoint::Open(c);
  ASSERT_TRUE(qa.ok() && qc.ok());
  for (size_t i = 0; i < (*qa)->encoded().size(); ++i) {
    auto fa = (*qa)->Load((*qa)->encoded()[i]);
    auto fc = (*qc)->Load((*qc)->encoded()[i]);
    ASSERT_TRUE(fa.ok() && fc.ok());
    EXPECT_EQ(fa->sections[0], fc->sections[0]);
    EXPECT_EQ(fa->sections[1], fc->sections[1]);
  }
}

TEST_F(QuantizeJobTest, SkipOverrideAndEmbeddingRules) {
  PlanOptions plan;
  plan.skip = {"wq"};
  auto rule = OverrideRule::Parse("feed_forward\\.w2=rtn:bits=8,group_size=32");
  ASSERT_TRUE(rule.ok()) << rule.status().ToString();
  plan.overrides.push_back(*rule);
  plan.quantize_embeddings = true;
  auto report = Quantize(dir_ / "o.safetensors", plan);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const TensorReport& t : report->tensors) {
    if (t.name.find("wq") != std::string::npos) {
      EXPECT_FALSE(t.quantized);
      EXPECT_EQ(t.reason, "--skip wq");
    } else if (t.name.find("w2") != std::string::npos) {
      EXPECT_EQ(t.params.GetString("bits", ""), "8") << t.name;
      EXPECT_EQ(t.params.GetString("group_size", ""), "32");
    } else if (t.name == "tok_embeddings.weight") {
      EXPECT_TRUE(t.quantized);
    }
  }
  EXPECT_FALSE(OverrideRule::Parse("nomethod").ok());
  EXPECT_FALSE(OverrideRule::Parse("x=").ok());
  EXPECT_FALSE(OverrideRule::Parse("([=rtn").ok());
  EXPECT_FALSE(OverrideRule::Parse("x=rtn:bits").ok());
}

TEST_F(QuantizeJobTest, NonFiniteInputFailsNamingTheTensorAndWritesNothing) {
  std::vector<float> w(64, 0.25f);
  w[37] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> ok(64, 1.0f);
  const std::string in = dir_ / "nan.safetensors";
  QUANTD_ASSERT_OK(
      WriteSafetensors(in,
                       {TensorToWrite::FromBytes("good", DType::kF32, {8, 8},
                                                 {reinterpret_cast<const uint8_t*>(ok.data()), 256}),
                        TensorToWrite::FromBytes("bad", DType::kF32, {8, 8},
                                                 {reinterpret_cast<const uint8_t*>(w.data()), 256})},
                       {}));
  QuantizeJobOptions o;
  o.input = in;
  o.output = dir_ / "out.safetensors";
  LocalExecutor ex;
  EXPECT_THAT(
      RunQuantizeJob(o, ex, nullptr),
      StatusIs(StatusCode::kInvalidArgument, "tensor 'bad': non-finite value nan at row 4, column 5"));
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

// --column-max: static column maxima reach the crossquant tensors named in the file (recorded as
// static_columns=true), and only those; a file that names no such tensor is an error.
TEST_F(QuantizeJobTest, ColumnMaxCalibrationFile) {
  auto ck = Checkpoint::Open(model_);
  ASSERT_TRUE(ck.ok());
  const auto* wq = (*ck)->Find("layers.0.attention.wq.weight");
  std::vector<float> w(wq->info->size_bytes() / 4);
  memcpy(w.data(), wq->file->Data(*wq->info).data(), wq->info->size_bytes());
  std::vector<float> cmax(64, 0.0f);  // half the true column maxima: some values must clamp
  for (size_t i = 0; i < w.size(); ++i) cmax[i % 64] = std::max(cmax[i % 64], std::fabs(w[i]) / 2);
  const std::string cal = dir_ / "cmax.safetensors";
  QUANTD_ASSERT_OK(
      WriteSafetensors(cal,
                       {TensorToWrite::FromBytes("layers.0.attention.wq.weight", DType::kF32, {64},
                                                 {reinterpret_cast<const uint8_t*>(cmax.data()), 256})},
                       {}));
  QuantizeJobOptions o;
  o.input = model_;
  o.output = dir_ / "cq.safetensors";
  o.plan.method = "crossquant";
  o.calibration = {{CalibrationKind::kColumnMax, cal}};
  LocalExecutor ex;
  auto report = RunQuantizeJob(o, ex, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const TensorReport& t : report->tensors) {
    if (!t.quantized) continue;
    const bool calibrated = t.name == "layers.0.attention.wq.weight";
    EXPECT_EQ(t.params.GetString("static_columns", ""), calibrated ? "true" : "false") << t.name;
    if (calibrated) {
      ASSERT_TRUE(t.stats.count("clamp_count")) << "no clamp count reported";
      EXPECT_GT(t.stats.at("clamp_count"), 0);
    }
  }
  o.plan.method = "rtn";
  o.output = dir_ / "rtn.safetensors";
  EXPECT_THAT(RunQuantizeJob(o, ex, nullptr),
              StatusIs(StatusCode::kInvalidArgument, "holds no column_max for any tensor"));
}

// --hessian: the tensors the file names are encoded Hessian-aware by pvq (use_hessian=true is
// recorded), the others plainly.
TEST_F(QuantizeJobTest, HessianCalibrationFile) {
  // H = X^T X of correlated inputs for a 64-wide layer.
  auto x = testing::Gaussian(256 * 64, 4);
  for (int64_t r = 0; r < 256; ++r) {
    for (int64_t j = 1; j < 64; ++j) x[r * 64 + j] = 0.8f * x[r * 64 + j - 1] + 0.6f * x[r * 64 + j];
  }
  std::vector<float> h(64 * 64, 0.0f);
  for (int64_t r = 0; r < 256; ++r) {
    for (int64_t a = 0; a < 64; ++a) {
      for (int64_t b = 0; b < 64; ++b) h[a * 64 + b] += x[r * 64 + a] * x[r * 64 + b];
    }
  }
  const std::string cal = dir_ / "h.safetensors";
  QUANTD_ASSERT_OK(
      WriteSafetensors(cal,
                       {TensorToWrite::FromBytes("layers.1.attention.wo.weight", DType::kF32, {64, 64},
                                                 {reinterpret_cast<const uint8_t*>(h.data()), h.size() * 4})},
                       {}));
  QuantizeJobOptions o;
  o.input = model_;
  o.output = dir_ / "pvq.safetensors";
  o.plan.method = "pvq";
  o.calibration = {{CalibrationKind::kHessian, cal}};
  LocalExecutor ex;
  auto report = RunQuantizeJob(o, ex, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  int hessian_aware = 0;
  for (const TensorReport& t : report->tensors) {
    if (!t.quantized) continue;
    const bool calibrated = t.name == "layers.1.attention.wo.weight";
    EXPECT_EQ(t.params.GetString("use_hessian", ""), calibrated ? "true" : "false") << t.name;
    hessian_aware += calibrated;
  }
  EXPECT_EQ(hessian_aware, 1);
  // A Hessian of the wrong size is refused, naming the file and tensor.
  std::vector<float> small(32 * 32, 1.0f);
  QUANTD_ASSERT_OK(
      WriteSafetensors(cal,
                       {TensorToWrite::FromBytes("layers.1.attention.wo.weight", DType::kF32, {32, 32},
                                                 {reinterpret_cast<const uint8_t*>(small.data()), 4096})},
                       {}));
  EXPECT_THAT(RunQuantizeJob(o, ex, nullptr),
              StatusIs(StatusCode::kInvalidArgument, "hessian of tensor 'layers.1.attention.wo.weight'"));
}

// Runs the first `n` chunks in-process, then fails: what a killed run leaves in the journal.
class StopAfter final : public ChunkExecutor {
 public:
  explicit StopAfter(size_t n) : n_(n) {}
  Status RunAll(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done) override {
    for (size_t i = 0; i < chunks.size() && i < n_; ++i) {
      auto r = EncodeChunk(chunks[i].spec, chunks[i].source, chunks[i].calibration, {.device = device});
      if (!r.ok()) return r.status();
      QUANTD_RETURN_IF_ERROR(on_done(i, ChunkRecord{.tensor = chunks[i].spec.tensor,
                                                    .result = std::move(*r),
                                                    .key = {},
                                                    .provenance = {.worker = "stop-after"}}));
    }
    return UnavailableError("stopped on purpose");
  }

 private:
  size_t n_;
};

// Two valid records swapped between chunks of the same shape are not taken for each other: each
// names its chunk, so both are redone (with a warning naming the journal) and the output is
// the fresh run's, byte for byte.
TEST_F(QuantizeJobTest, SwappedJournalRecordsAreRedone) {
  PlanOptions plan;
  plan.chunk_bytes = 4096;  // 16 rows of 64 F32: many chunks of the same shape
  QuantizeJobOptions o;
  o.input = model_;
  o.output = dir_ / "resumed.safetensors";
  o.plan = plan;
  StopAfter stop(6);
  EXPECT_THAT(RunQuantizeJob(o, stop, nullptr), StatusIs(StatusCode::kUnavailable, "stopped on purpose"));
  const std::string journal = o.output + ".journal";
  std::vector<std::filesystem::path> records;
  for (const auto& e : std::filesystem::directory_iterator(journal)) records.push_back(e.path());
  ASSERT_EQ(records.size(), 6u);
  // Two records of the same size (same shape) swap contents.
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::filesystem::file_size(a) < std::filesystem::file_size(b);
  });
  size_t i = 0;
  while (i + 1 < records.size() &&
         std::filesystem::file_size(records[i]) != std::filesystem::file_size(records[i + 1])) {
    ++i;
  }
  ASSERT_LT(i + 1, records.size()) << "no two records of one size";
  const std::string a = ReadAll(records[i]), b = ReadAll(records[i + 1]);
  ASSERT_NE(a, b);
  std::ofstream(records[i], std::ios::binary | std::ios::trunc) << b;
  std::ofstream(records[i + 1], std::ios::binary | std::ios::trunc) << a;

  std::ostringstream log;
  LocalExecutor ex;
  auto report = RunQuantizeJob(o, ex, &log);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->resumed_chunks, 4);
  size_t warnings = 0;
  for (size_t at = 0;
       (at = log.str().find("redone, DATA_LOSS: journal entry " + journal, at)) != std::string::npos; ++at) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 2u) << log.str();
  ASSERT_TRUE(Quantize(dir_ / "fresh.safetensors", plan).ok());
  EXPECT_EQ(ReadAll(o.output), ReadAll(dir_ / "fresh.safetensors"));
}

// The input is never overwritten: an output that resolves to it (or, for a folder input, lies
// inside its folder) is refused before anything is read.
TEST_F(QuantizeJobTest, OutputThatIsTheInputIsRefused) {
  const std::string before = ReadAll(model_);
  QuantizeJobOptions o;
  o.input = model_;
  LocalExecutor ex;
  for (const std::string& out : {model_, (dir_.path() / "." / "s.safetensors").string()}) {
    o.output = out;
    EXPECT_THAT(RunQuantizeJob(o, ex, nullptr),
                StatusIs(StatusCode::kInvalidArgument, "is the input checkpoint"));
  }
  EXPECT_EQ(ReadAll(model_), before);
  std::filesystem::create_directories(dir_ / "m");
  std::filesystem::copy_file(model_, dir_ / "m/model.safetensors");
  o.input = dir_ / "m";
  for (const std::string& out : {dir_ / "m", dir_ / "m/q"}) {
    o.output = out;
    EXPECT_THAT(RunQuantizeJob(o, ex, nullptr),
                StatusIs(StatusCode::kInvalidArgument, "is the input checkpoint"));
  }
  EXPECT_EQ(ReadAll(dir_ / "m/model.safetensors"), before);
}

// Writing into a folder that holds files needs `overwrite`, and then replaces only what the job
// writes: a file it did not write stays.
TEST_F(QuantizeJobTest, ExistingOutputFolderNeedsOverwriteAndKeepsOtherFiles) {
  std::filesystem::create_directories(dir_ / "out");
  std::ofstream(dir_ / "out/notes.txt") << "mine";
  QuantizeJobOptions o;
  o.input = model_;
  o.output = dir_ / "out";
  LocalExecutor ex;
  EXPECT_THAT(RunQuantizeJob(o, ex, nullptr), StatusIs(StatusCode::kInvalidArgument, "--overwrite"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out/model.safetensors"));
  o.overwrite = true;
  QUANTD_ASSERT_OK(RunQuantizeJob(o, ex, nullptr).status());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out/model.safetensors"));
  EXPECT_EQ(ReadAll(dir_ / "out/notes.txt"), "mine");
  QUANTD_ASSERT_OK(RunQuantizeJob(o, ex, nullptr).status());  // and again, over its own output
  EXPECT_EQ(ReadAll(dir_ / "out/notes.txt"), "mine");
}

TEST_F(QuantizeJobTest, QuantizedInputIsRefused) {
  ASSERT_TRUE(Quantize(dir_ / "q.safetensors", {}).ok());
  QuantizeJobOptions o;
  o.input = dir_ / "q.safetensors";
  o.output = dir_ / "qq.safetensors";
  LocalExecutor ex;
  EXPECT_THAT(RunQuantizeJob(o, ex, nullptr),
              StatusIs(StatusCode::kInvalidArgument, "is already quantized by quantd"));
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

TEST(PlanTest, RowChunks) {
  auto c = SplitRows(10, 100, 250, true);
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[4].first, 8);
  EXPECT_EQ(c[4].second, 10);
  EXPECT_EQ(SplitRows(10, 100, 50, true).size(), 10u);  // at least one row per chunk
  EXPECT_EQ(SplitRows(10, 100, 50, false).size(), 1u);  // whole-tensor methods
  EXPECT_TRUE(SplitRows(0, 100, 50, true).empty());
}

}  // namespace
}  // namespace quantd::client
