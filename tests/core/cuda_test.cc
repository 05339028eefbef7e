// The CUDA backend. Parts that need no GPU (device selection without a device, the packing
// scheme the kernels use) always run; CPU-vs-GPU agreement runs where a GPU is present and is
// skipped, saying so, elsewhere.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include "core/common/bitpack.h"
#include "core/rtn/rtn_pack.h"
#include "quantd/core/chunk.h"
#include "quantd/core/device.h"
#include "quantd/core/quantize.h"
#if QUANTD_HAVE_CUDA
#include "core/cuda/cuda_util.h"
#endif
#include "tests/testing/real_weights.h"
#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

bool HaveGpu() { return !CudaDevices().empty(); }

#define SKIP_WITHOUT_GPU()                                                                       \
  if (!HaveGpu()) {                                                                              \
    GTEST_SKIP() << (BuiltWithCuda() ? "no CUDA device on this machine" : "built without CUDA"); \
  }

Chunk Block(const std::vector<float>& w, const std::vector<int64_t>& shape) {
  return Chunk{.tensor_name = "g", .shape = shape, .rows = shape[0], .cols = shape[1], .data = w};
}

// The kernels' byte-at-a-time packing equals PackBits for every width and length.
TEST(CudaHostTest, PackedByteMatchesPackBits) {
  for (int bits = 1; bits <= 8; ++bits) {
    for (int64_t n : {1, 3, 7, 8, 9, 100, 172}) {
      std::vector<uint8_t> codes(n);
      std::vector<uint32_t> wide(n);
      for (int64_t i = 0; i < n; ++i)
        wide[i] = codes[i] = static_cast<uint8_t>((i * 37 + bits) % (1 << bits));
      std::vector<uint8_t> expect(PackedBytes(n, bits));
      PackBits(wide, bits, expect);
      for (size_t k = 0; k < expect.size(); ++k) {
        ASSERT_EQ(rtn_internal::PackedByte(codes.data(), n, bits, static_cast<int64_t>(k)), expect[k])
            << "bits=" << bits << " n=" << n << " byte " << k;
      }
    }
  }
}

TEST(CudaHostTest, DeviceSelectionWithoutAGpu) {
  if (HaveGpu()) GTEST_SKIP() << "a GPU is present: covered by the agreement tests";
  auto w = testing::Gaussian(64 * 64, 1);
  const std::vector<int64_t> shape = {64, 64};
  EXPECT_THAT(EncodeRows(Block(w, shape), "rtn", {}, {.device = Device::kCuda}),
              StatusIs(StatusCode::kUnavailable, "device cuda requested"));
  Device used = Device::kCuda;
  auto e = EncodeRows(Block(w, shape), "rtn", {}, {.device = Device::kAuto}, &used);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(used, Device::kCpu);
  EXPECT_EQ(*e, *EncodeRows(Block(w, shape), "rtn", {}));
  EXPECT_THAT(EncodeRows(Block(w, shape), "pvq", {}, {.device = Device::kCuda}),
              StatusIs(StatusCode::kUnavailable, "device cuda requested"));
  EXPECT_EQ(*ParseDevice("cuda"), Device::kCuda);
  EXPECT_FALSE(ParseDevice("tpu").ok());
}

// RTN on the GPU is bit-identical to the CPU: widths, scale types, group sizes with and without
// the fused kernel (multiple of 8 or not), tail groups, zero groups and ties.
TEST(CudaRtnTest, BitIdenticalToCpu) {
  SKIP_WITHOUT_GPU();
  struct Case {
    int64_t rows, cols, group;
  };
  const Case cases[] = {{64, 4096, 128}, {33, 172, 128}, {17, 1000, 64}, {9, 352, 100}, {5, 97, 7},
                        {300, 64, 32},   {8, 512, 8},    {4, 1024, 256}, {3, 5, 1}};
  uint64_t seed = 3;
  for (const Case& c : cases) {
    auto w = testing::StudentT(c.rows * c.cols, seed++, 4.0, 0.02f);
    // A zero row that starts with -0: the scale is -0 whatever the zeros' signs.
    for (int64_t i = 0; i < c.cols && c.rows > 2; ++i) w[c.cols + i] = i == 0 ? -0.0f : 0.0f;
    if (c.cols > 4) {  // a tie of magnitudes with opposite signs: the first one decides
      w[2 * c.cols + 1] = 0.5f;
      w[2 * c.cols + 3] = -0.5f;
    }
    const std::vector<int64_t> shape = {c.rows, c.cols};
    for (int bits = 2; bits <= 8; ++bits) {
      for (const char* sd : {"f16", "f32"}) {
        const Params p{
            {"bits", std::to_string(bits)}, {"group_size", std::to_string(c.group)}, {"scale_dtype", sd}};
        auto cpu = EncodeRows(Block(w, shape), "rtn", p);
        Device used = Device::kCpu;
        auto gpu = EncodeRows(Block(w, shape), "rtn", p, {.device = Device::kCuda}, &used);
        ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status().ToString();
        EXPECT_EQ(used, Device::kCuda);
        ASSERT_EQ(*gpu, *cpu) << c.rows << "x" << c.cols << " g" << c.group << " bits=" << bits << " " << sd;
      }
    }
  }
}

TEST(CudaRtnTest, RunToRunDeterministicAndAutoPicksTheGpu) {
  SKIP_WITHOUT_GPU();
  auto w = testing::Gaussian(1024 * 1024, 9, 0.02f);
  const std::vector<int64_t> shape = {1024, 1024};
  Device used = Device::kCpu;
  auto a = EncodeRows(Block(w, shape), "rtn", {{"bits", "3"}}, {.device = Device::kAuto}, &used);
  auto b = EncodeRows(Block(w, shape), "rtn", {{"bits", "3"}}, {.device = Device::kCuda});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(used, Device::kCuda);  // 1M weights is above kAutoCudaMinWeights
  EXPECT_EQ(*a, *b);
}

// A GPU out of memory: kAuto falls back to the CPU (same bytes), kCuda reports
// RESOURCE_EXHAUSTED; nothing crashes and the GPU stays usable.
void ExpectOutOfMemoryFallsBackOrFailsCleanly(const std::string& method, const std::vector<float>& w,
                                              const std::vector<int64_t>& shape) {
#if QUANTD_HAVE_CUDA
  const auto cpu = EncodeRows(Block(w, shape), method, {});
  cuda::SetDeviceAllocationLimitForTesting(1 << 20);
  Device used = Device::kCuda;
  auto fallback = EncodeRows(Block(w, shape), method, {}, {.device = Device::kAuto}, &used);
  auto forced = EncodeRows(Block(w, shape), method, {}, {.device = Device::kCuda});
  cuda::SetDeviceAllocationLimitForTesting(0);
  ASSERT_TRUE(fallback.ok()) << fallback.status().ToString();
  EXPECT_EQ(used, Device::kCpu);
  EXPECT_EQ(*fallback, *cpu);
  EXPECT_THAT(forced, StatusIs(StatusCode::kResourceExhausted, "cudaMalloc"));
  auto again = EncodeRows(Block(w, shape), method, {}, {.device = Device::kCuda});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *cpu);
#endif
}

TEST(CudaRtnTest, OutOfDeviceMemoryFallsBackOrFailsCleanly) {
  SKIP_WITHOUT_GPU();
  ExpectOutOfMemoryFallsBackOrFailsCleanly("rtn", testing::Gaussian(1024 * 1024, 13, 0.02f), {1024, 1024});
}

TEST(CudaRtnTest, ScaleOverflowIsAnErrorOnTheGpuToo) {
  SKIP_WITHOUT_GPU();
  std::vector<float> w(64, 1.0f);
  w[3] = 1e7f;
  const std::vector<int64_t> shape = {1, 64};
  EXPECT_THAT(EncodeRows(Block(w, shape), "rtn", {}, {.device = Device::kCuda}),
              StatusIs(StatusCode::kInvalidArgument, "scale_dtype=f32"));
}

// CrossQuant on the GPU is bit-identical to the CPU, stats (kernel counts) included: every width,
// several alphas, both maxima dtypes, dynamic and static (clamping) column maxima, zero rows and
// columns, odd shapes.
TEST(CudaCrossQuantTest, BitIdenticalToCpu) {
  SKIP_WITHOUT_GPU();
  struct Case {
    int64_t rows, cols;
  };
  uint64_t seed = 21;
  for (const Case& c : {Case{64, 4096}, Case{33, 172}, Case{7, 97}, Case{300, 64}, Case{1, 1}}) {
    auto w = testing::StudentT(c.rows * c.cols, seed++, 3.0, 0.02f);
    if (c.rows > 3) {
      for (int64_t j = 0; j < c.cols; ++j) w[2 * c.cols + j] = 0.0f;  // a zero row
    }
    if (c.cols > 3) {
      for (int64_t i = 0; i < c.rows; ++i) w[i * c.cols + 1] = 0.0f;  // a zero column
    }
    std::vector<float> cmax(c.cols);
    for (int64_t j = 0; j < c.cols; ++j)
      cmax[j] = 0.01f + 0.001f * static_cast<float>(j % 7);  // makes clamps
    Calibration cal;
    cal.column_max = cmax;
    const std::vector<int64_t> shape = {c.rows, c.cols};
    for (int bits : {2, 3, 4, 5, 8}) {
      for (const char* alpha : {"0", "0.15", "0.55", "1"}) {
        for (const char* sd : {"f32", "f16"}) {
          for (bool stat : {false, true}) {
            Params p{{"bits", std::to_string(bits)}, {"alpha", alpha}, {"scale_dtype", sd}};
            Chunk b = Block(w, shape);
            if (stat) {
              p.SetBool("static_columns", true);
              b.calibration = &cal;
            }
            auto cpu = EncodeRows(b, "crossquant", p);
            auto gpu = EncodeRows(b, "crossquant", p, {.device = Device::kCuda});
            ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status().ToString();
            ASSERT_EQ(*gpu, *cpu) << c.rows << "x" << c.cols << " bits=" << bits << " alpha=" << alpha << " "
                                  << sd << (stat ? " static" : "");
          }
        }
      }
    }
  }
}

TEST(CudaCrossQuantTest, OverflowAndCalibrationErrorsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  std::vector<float> w(64, 0.5f);
  w[5] = 70000.0f;  // overflows F16 maxima
  const std::vector<int64_t> shape = {4, 16};
  const Params f16{{"scale_dtype", "f16"}};
  EXPECT_THAT(EncodeRows(Block(w, shape), "crossquant", f16, {.device = Device::kCuda}),
              StatusIs(StatusCode::kInvalidArgument, "overflows f16"));
  EXPECT_THAT(
      EncodeRows(Block(w, shape), "crossquant", {{"static_columns", "true"}}, {.device = Device::kCuda}),
      StatusIs(StatusCode::kInvalidArgument, "needs calibration column maxima"));
}

// PVQ on the GPU is bit-identical to the CPU, stats (search by-products) included: group sizes 8,
// 32 and 64, three rates, both searches, both scale types, with and without rotation, rows of a
// power of two, of a non-power of two with a shorter last group (172) and of 4096, zero rows.
TEST(CudaPvqTest, BitIdenticalToCpu) {
  SKIP_WITHOUT_GPU();
  uint64_t seed = 31;
  for (int64_t cols : {64, 172, 4096}) {
    const int64_t rows = cols == 4096 ? 12 : 40;
    auto w = testing::StudentT(rows * cols, seed++, 4.0, 0.02f);
    for (int64_t j = 0; j < cols; ++j) w[cols + j] = 0.0f;  // a zero row
    const std::vector<int64_t> shape = {rows, cols};
    for (const char* d : {"8", "32", "64"}) {
      for (const char* bits : {"2.5", "3.25", "4.125"}) {
        for (const char* search : {"exact", "greedy"}) {
          for (const char* sd : {"f16", "f32"}) {
            for (const char* rotation : {"hadamard", "none"}) {
              const Params p{{"bits", bits},      {"group_size", d},      {"search", search},
                             {"scale_dtype", sd}, {"rotation", rotation}, {"seed", std::to_string(seed)}};
              auto cpu = EncodeRows(Block(w, shape), "pvq", p);
              Device used = Device::kCpu;
              auto gpu = EncodeRows(Block(w, shape), "pvq", p, {.device = Device::kCuda}, &used);
              ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status().ToString();
              EXPECT_EQ(used, Device::kCuda);
              ASSERT_EQ(*gpu, *cpu) << rows << "x" << cols << " " << p.ToString();
            }
          }
        }
      }
    }
  }
}

// Other group sizes (one thread's search arrays of 128 and 256 entries), wide indices (many
// words), and rows shorter than a group (one group per row, no gain codes).
TEST(CudaPvqTest, BitIdenticalToCpuOnUnusualLayouts) {
  SKIP_WITHOUT_GPU();
  struct Case {
    int64_t rows, cols;
    Params p;
  };
  const Case cases[] = {
      {24, 1000, {{"bits", "5"}, {"group_size", "128"}, {"gain_codebook", "quantile"}}},
      {10, 600, {{"k", "300"}, {"group_size", "256"}}},
      {10, 512, {{"bits", "8"}, {"group_size", "256"}}},
      {30, 20, {{"k", "9"}, {"group_size", "32"}}},
      {30, 97, {{"bits", "6"}, {"group_size", "16"}, {"gain_bits", "7"}}},
      {50, 3, {{"k", "5"}, {"group_size", "2"}}},
  };
  uint64_t seed = 51;
  for (const Case& c : cases) {
    const auto w = testing::StudentT(c.rows * c.cols, seed++, 3.0, 0.02f);
    const std::vector<int64_t> shape = {c.rows, c.cols};
    for (const char* search : {"exact", "greedy"}) {
      Params p = c.p;
      p.Set("search", search);
      auto cpu = EncodeRows(Block(w, shape), "pvq", p);
      auto gpu = EncodeRows(Block(w, shape), "pvq", p, {.device = Device::kCuda});
      ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status().ToString();
      ASSERT_EQ(*gpu, *cpu) << c.rows << "x" << c.cols << " " << p.ToString();
    }
  }
}

// A block of several passes (2048 rows of 4096 per pass): the same bytes as the CPU, the same
// bytes on every run, and Device::kAuto takes the GPU for it.
TEST(CudaPvqTest, ManyPassesRunToRunDeterministicAndAutoPicksTheGpu) {
  SKIP_WITHOUT_GPU();
  const int64_t rows = 2304, cols = 4096;
  const auto w = testing::StudentT(rows * cols, 61, 4.0, 0.02f);
  const std::vector<int64_t> shape = {rows, cols};
  for (const char* search : {"exact", "greedy"}) {
    const Params p{{"bits", "3.25"}, {"search", search}};
    Device used = Device::kCpu;
    auto a = EncodeRows(Block(w, shape), "pvq", p, {.device = Device::kAuto}, &used);
    auto b = EncodeRows(Block(w, shape), "pvq", p, {.device = Device::kCuda});
    auto cpu = EncodeRows(Block(w, shape), "pvq", p, {.device = Device::kCpu});
    ASSERT_TRUE(a.ok() && b.ok() && cpu.ok()) << a.status().ToString() << " " << b.status().ToString();
    EXPECT_EQ(used, Device::kCuda);
    EXPECT_EQ(*a, *b) << search;
    EXPECT_EQ(*a, *cpu) << search;
  }
}

// What stays on the CPU: the Hessian-aware encoder and rotated rows longer than a block's shared
// memory. Device::kCuda says so (UNIMPLEMENTED); Device::kAuto falls back to the CPU's bytes.
TEST(CudaPvqTest, HessianAndVeryLongRowsFallBackToTheCpu) {
  SKIP_WITHOUT_GPU();
  {
    const int64_t rows = 4096, cols = 64;  // 2^18 weights: kAuto tries the GPU first
    const auto w = testing::Gaussian(rows * cols, 71, 0.02f);
    std::vector<float> h(cols * cols, 0.0f);
    for (int64_t i = 0; i < cols; ++i) h[i * cols + i] = 2.0f;
    const Calibration cal{.column_max = {}, .hessian = h};
    const std::vector<int64_t> shape = {rows, cols};
    Chunk b = Block(w, shape);
    b.calibration = &cal;
    const Params p{{"use_hessian", "true"}};
    EXPECT_THAT(EncodeRows(b, "pvq", p, {.device = Device::kCuda}),
                StatusIs(StatusCode::kUnimplemented, "use_hessian=true"));
    Device used = Device::kCuda;
    auto automatic = EncodeRows(b, "pvq", p, {.device = Device::kAuto}, &used);
    auto cpu = EncodeRows(b, "pvq", p, {.device = Device::kCpu});
    ASSERT_TRUE(automatic.ok() && cpu.ok());
    EXPECT_EQ(used, Device::kCpu);
    EXPECT_EQ(*automatic, *cpu);
    // A user error stays the user's on both devices.
    EXPECT_THAT(EncodeRows(Block(w, shape), "pvq", p, {.device = Device::kCuda}),
                StatusIs(StatusCode::kInvalidArgument, "no Hessian was supplied"));
  }
  {
    const int64_t rows = 4, cols = 65536;
    const auto w = testing::Gaussian(rows * cols, 72, 0.02f);
    const std::vector<int64_t> shape = {rows, cols};
    const Params greedy{{"search", "greedy"}};
    EXPECT_THAT(EncodeRows(Block(w, shape), "pvq", greedy, {.device = Device::kCuda}),
                StatusIs(StatusCode::kUnimplemented, "shared memory"));
    Device used = Device::kCuda;
    auto automatic = EncodeRows(Block(w, shape), "pvq", greedy, {.device = Device::kAuto}, &used);
    ASSERT_TRUE(automatic.ok());
    EXPECT_EQ(used, Device::kCpu);
    EXPECT_EQ(*automatic, *EncodeRows(Block(w, shape), "pvq", greedy));
    // Without rotation nothing needs shared memory: the GPU takes them.
    const Params plain{{"search", "greedy"}, {"rotation", "none"}};
    auto gpu = EncodeRows(Block(w, shape), "pvq", plain, {.device = Device::kCuda});
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    EXPECT_EQ(*gpu, *EncodeRows(Block(w, shape), "pvq", plain));
  }
}

TEST(CudaPvqTest, ScaleOverflowIsAnErrorOnTheGpuToo) {
  SKIP_WITHOUT_GPU();
  std::vector<float> w(4 * 64, 0.01f);
  for (int j = 0; j < 64; ++j) w[2 * 64 + j] = 3e4f;
  const std::vector<int64_t> shape = {4, 64};
  EXPECT_THAT(EncodeRows(Block(w, shape), "pvq", {}, {.device = Device::kCuda}),
              StatusIs(StatusCode::kInvalidArgument, "row 2 is too large for an f16 scale"));
}

// Kashin on the GPU is bit-identical to the CPU, stats included: both step choices, widths from
// 1 to 8 bits, block lengths with a short last block, lengths that are not powers of two, zero
// rows, slices with many vectors and more than one k-means sum block, the rare path where rows
// that did not converge are kept (the host clusters the others), and the DCT transforms (radix
// 4, 2 and odd stages, odd lengths, Bluestein lengths).
TEST(CudaKashinTest, BitIdenticalToCpu) {
  SKIP_WITHOUT_GPU();
  struct Case {
    int64_t rows, cols;
    Params p;
  };
  const std::vector<Case> cases = {
      {64, 4096, {}},
      {33, 100, {}},
      {40, 300, {{"block_length", "128"}}},
      {24, 256, {{"step_choice", "vector"}}},
      {16, 512, {{"bits", "2"}, {"kmeans_restarts", "1"}}},
      {12, 96, {{"bits", "8"}}},
      {7, 64, {{"bits", "1"}}},
      {150, 128, {{"bits", "3"}, {"tolerance", "1e-5"}}},
      {2048, 1024, {}},
      {3, 11008, {{"scale_dtype", "f32"}}},
      {8, 64, {{"max_iterations", "3"}, {"non_converged", "quantize"}}},
      {8, 64, {{"max_iterations", "3"}}},
      {64, 4096, {{"transform", "dct"}}},
      {20, 100, {{"transform", "dct_signed"}}},
      {16, 344, {{"transform", "dct"}, {"block_length", "75"}}},
      {12, 194, {{"transform", "dct"}}},
      {9, 97, {{"transform", "dct_signed"}, {"step_choice", "vector"}}},
  };
  uint64_t seed = 40;
  for (const Case& c : cases) {
    auto w = testing::StudentT(c.rows * c.cols, seed++, 4.0, 0.02f);
    // A zero row that starts with -0: the scale is -0 whatever the zeros' signs.
    for (int64_t i = 0; i < c.cols && c.rows > 2; ++i) w[c.cols + i] = i == 0 ? -0.0f : 0.0f;
    const std::vector<int64_t> shape = {c.rows, c.cols};
    auto cpu = EncodeRows(Block(w, shape), "kashin", c.p);
    Device used = Device::kCpu;
    auto gpu = EncodeRows(Block(w, shape), "kashin", c.p, {.device = Device::kCuda}, &used);
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    EXPECT_EQ(used, Device::kCuda);
    EXPECT_EQ(gpu->stats, cpu->stats) << c.rows << "x" << c.cols << " " << c.p.ToString();
    ASSERT_EQ(*gpu, *cpu) << c.rows << "x" << c.cols << " " << c.p.ToString();
  }
}

TEST(CudaKashinTest, RunToRunDeterministicAndAutoPicksTheGpu) {
  SKIP_WITHOUT_GPU();
  auto w = testing::Gaussian(512 * 2048, 41, 0.02f);
  const std::vector<int64_t> shape = {512, 2048};
  Device used = Device::kCpu;
  auto a = EncodeRows(Block(w, shape), "kashin", {}, {.device = Device::kAuto}, &used);
  auto b = EncodeRows(Block(w, shape), "kashin", {}, {.device = Device::kCuda});
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().ToString();
  EXPECT_EQ(used, Device::kCuda);
  EXPECT_EQ(*a, *b);
}

// What stays on the CPU: matrix mode, the dense qr transform, vectors longer than a block's
// shared memory. kCuda says so (UNIMPLEMENTED); kAuto gives the CPU's bytes. A GPU out of
// memory: kAuto falls back, kCuda is RESOURCE_EXHAUSTED, and the GPU stays usable.
TEST(CudaKashinTest, UncoveredParametersAndOutOfMemoryFallBackToTheCpu) {
  SKIP_WITHOUT_GPU();
  auto w = testing::Gaussian(512 * 512, 42, 0.02f);
  const std::vector<int64_t> shape = {512, 512};
  for (const auto& [p, what] : std::vector<std::pair<Params, const char*>>{
           {{{"mode", "matrix"}}, "mode=matrix"}, {{{"transform", "qr"}}, "transform=qr"}}) {
    EXPECT_THAT(EncodeRows(Block(w, shape), "kashin", p, {.device = Device::kCuda}),
                StatusIs(StatusCode::kUnimplemented, what));
    Device used = Device::kCuda;
    auto automatic = EncodeRows(Block(w, shape), "kashin", p, {.device = Device::kAuto}, &used);
    ASSERT_TRUE(automatic.ok()) << automatic.status().ToString();
    EXPECT_EQ(used, Device::kCpu);
    EXPECT_EQ(*automatic, *EncodeRows(Block(w, shape), "kashin", p));
  }
  {
    auto long_rows = testing::Gaussian(4 * 131072, 43, 0.02f);
    const std::vector<int64_t> long_shape = {4, 131072};
    EXPECT_THAT(EncodeRows(Block(long_rows, long_shape), "kashin", {}, {.device = Device::kCuda}),
                StatusIs(StatusCode::kUnimplemented, "shared memory"));
    const Params blocks{{"block_length", "4096"}};
    auto gpu = EncodeRows(Block(long_rows, long_shape), "kashin", blocks, {.device = Device::kCuda});
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    EXPECT_EQ(*gpu, *EncodeRows(Block(long_rows, long_shape), "kashin", blocks));
  }
  ExpectOutOfMemoryFallsBackOrFailsCleanly("kashin", w, shape);
}

TEST(CudaKashinTest, ScaleOverflowIsAnErrorOnTheGpuToo) {
  SKIP_WITHOUT_GPU();
  std::vector<float> w(4 * 64, 0.01f);
  for (int j = 0; j < 64; ++j) w[2 * 64 + j] = 1e5f;
  const std::vector<int64_t> shape = {4, 64};
  EXPECT_THAT(EncodeRows(Block(w, shape), "kashin", {}, {.device = Device::kCuda}),
              StatusIs(StatusCode::kInvalidArgument, "row 2 has a scale (RMS) beyond f16's range"));
}

// Every method with a CUDA encoder gives the CPU's bytes on the real models' tensors (skipped
// where the shared data folder is absent, e.g. on a GPU machine without it).
TEST(CudaRealWeightsTest, EveryMethodBitIdenticalToCpu) {
  SKIP_WITHOUT_GPU();
  std::string error;
  const auto weights = testing::ReadLlama2c(testing::RealDataDir() + "/stories260K/stories260K.bin", &error);
  if (!error.empty()) GTEST_SKIP() << error << " (set QUANTD_DATA_DIR to the shared data folder)";
  for (const char* method : {"rtn", "crossquant", "pvq", "kashin"}) {
    for (const auto& m : weights.LinearLayers()) {
      const std::vector<int64_t> shape = {m.rows, m.cols};
      auto cpu = EncodeRows(Block(m.data, shape), method, {});
      auto gpu = EncodeRows(Block(m.data, shape), method, {}, {.device = Device::kCuda});
      ASSERT_TRUE(cpu.ok() && gpu.ok()) << method << " " << m.name << ": " << gpu.status().ToString();
      ASSERT_EQ(*gpu, *cpu) << method << " " << m.name;
    }
  }
}

}  // namespace
}  // namespace quantd
