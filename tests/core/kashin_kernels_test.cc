// Kashin's CUDA pipeline on the CPU: every kernel body of kashin_kernels.h run on the host, stage
// by stage as kashin.cu launches them, must give the CPU encoder's bytes and stats; the greedy
// bodies also run with real threads meeting at a barrier, as a thread block does; and the launch
// plan's arithmetic. What only a GPU can check (the device compilation of the same source,
// launches, transfers) is in cuda_test.cc.
#include "core/kashin/kashin_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/common/bitpack.h"
#include "core/common/hadamard.h"
#include "core/kashin/kashin.h"
#include "tests/testing/real_weights.h"
#include "tests/testing/test_util.h"

namespace quantd::kashin_internal {
namespace {

using ::quantd::testing::StatusIs;

struct NoSync {
  void operator()() const {}
};

// A block's shared memory on the host, aligned as the device's.
struct HostScratch {
  explicit HostScratch(const ScratchLayout& l)
      : buf(l.bytes / 16 + 1), s(ScratchAt(reinterpret_cast<unsigned char*>(buf.data()), l)) {}
  struct alignas(16) Chunk {
    unsigned char b[16];
  };
  std::vector<Chunk> buf;
  BlockScratch s;
};

// The CUDA encoder's stages with every kernel body run on the host, one "thread" per block.
StatusOr<Encoding> EncodeLikeTheGpu(const std::vector<float>& w, int64_t rows, int64_t cols,
                                    const Params& user) {
  QUANTD_ASSIGN_OR_RETURN(Params resolved, KashinMethod().Resolve(user, cols));
  QUANTD_ASSIGN_OR_RETURN(KashinOptions o, KashinOptions::FromParams(resolved));
  QUANTD_ASSIGN_OR_RETURN(KashinCudaPlan plan, PlanKashinCuda(o, cols, int64_t{1} << 30));
  const std::vector<int64_t> shape = {rows, cols};
  const Chunk in{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w};
  QUANTD_ASSIGN_OR_RETURN(NormalisedRows nr, NormaliseRows(in, o));
  const size_t n = static_cast<size_t>(rows * cols);
  std::vector<float> x = nr.xn, u(n, -7.0f), v(n, -7.0f), r(n, -7.0f), y(n, -7.0f);
  // Points of vectors that are not decomposed stay (0, 0): the device zeroes u and v first.
  std::fill(u.begin(), u.end(), 0.0f);
  std::fill(v.begin(), v.end(), 0.0f);
  const int64_t count = static_cast<int64_t>(nr.vectors.size());
  std::vector<GreedyState> states(static_cast<size_t>(count));
  HostScratch scratch(plan.scratch);
  NoSync sync;
  auto arrays = [&](const RowVector& rv) {
    return VectorArrays{x.data() + rv.offset, u.data() + rv.offset, v.data() + rv.offset,
                        r.data() + rv.offset, y.data() + rv.offset};
  };
  auto transform = [&](const RowVector& rv) {
    return rv.length == plan.len ? plan.full.View() : plan.last_q.View();
  };
  const GreedyOptions g = RowsGreedyOptions(o);
  for (int64_t i = 0; i < count; ++i) {
    const RowVector& rv = nr.vectors[static_cast<size_t>(i)];
    states[static_cast<size_t>(i)] =
        GreedyInit(arrays(rv), transform(rv), g.tolerance, scratch.s, 0, 1, sync);
  }
  for (int64_t step = 0; step < std::min(g.shared_steps, g.max_iterations); ++step) {
    const SliceDecision d = SliceChoice(states.data(), count);
    for (int64_t i = 0; i < count; ++i) {
      GreedyState& st = states[static_cast<size_t>(i)];
      const RowVector& rv = nr.vectors[static_cast<size_t>(i)];
      if (d.any && !st.converged)
        GreedyStep(arrays(rv), transform(rv), d.u_step != 0, &st, scratch.s, 0, 1, sync);
    }
  }
  std::vector<GreedyResult> results(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    GreedyState& st = states[static_cast<size_t>(i)];
    const RowVector& rv = nr.vectors[static_cast<size_t>(i)];
    GreedyOwnSteps(arrays(rv), transform(rv), g.max_iterations, &st, scratch.s, 0, 1, sync);
    results[static_cast<size_t>(i)] = {st.iterations, st.converged != 0, st.residual};
  }
  Encoding enc;
  const std::vector<int64_t> fallback = AddRowsStats(rows, cols, o, nr.vectors, results, &enc);
  if (!fallback.empty()) {  // the rare path: the host clusters, as kashin.cu does
    Clustered cl = ClusterAndPack(in, o, FastKernels(), u, v, fallback);
    QUANTD_RETURN_IF_ERROR(
        AddSections(in, o, std::move(cl.codes), std::move(nr.scales), cl.codebook.get(), fallback, &enc));
    return enc;
  }
  // k-means: the sample gathered, steps 1-3 on the host, step 4 by the kernel bodies.
  const KMeansOptions ko = KMeansOptionsFor(o);
  const std::vector<int64_t> idx = SampleIndices(static_cast<int64_t>(n), ko.sample_size, ko.seed);
  std::vector<float> su, sv;
  for (int64_t i : idx) {
    su.push_back(u[static_cast<size_t>(i)]);
    sv.push_back(v[static_cast<size_t>(i)]);
  }
  Codebook c = FitSample(su.data(), sv.data(), static_cast<int64_t>(idx.size()), ko);
  const int k = ko.k;
  std::vector<uint8_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = NearestCentroid(u[i], v[i], c.cu.data(), c.cv.data(), k);
  const int64_t blocks = (static_cast<int64_t>(n) + kSumBlock - 1) / kSumBlock;
  std::vector<CentroidSum> parts(static_cast<size_t>(blocks * k));
  for (int64_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < k; ++j) {
      CentroidSum& s = parts[static_cast<size_t>(b * k + j)];
      for (int64_t i = b * kSumBlock; i < std::min<int64_t>(static_cast<int64_t>(n), (b + 1) * kSumBlock);
           ++i)
        if (labels[static_cast<size_t>(i)] == j)
          AddPoint(u[static_cast<size_t>(i)], v[static_cast<size_t>(i)], &s);
    }
  }
  CentroidSums sums(k);
  for (int j = 0; j < k; ++j) {
    const CentroidSum t = CombineCentroidSums(parts.data(), blocks, k, j);
    sums.count[static_cast<size_t>(j)] = t.count;
    sums.su[static_cast<size_t>(j)] = t.su;
    sums.sv[static_cast<size_t>(j)] = t.sv;
  }
  SetMeans(sums, &c);
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(static_cast<size_t>(cols), o.bits));
  Section codes = Section::Zeros("codes", DType::kU8, {rows, row_bytes});
  for (int64_t row = 0; row < rows; ++row) {
    PackByteCodes(std::span<const uint8_t>(labels.data() + row * cols, static_cast<size_t>(cols)), o.bits,
                  std::span<uint8_t>(codes.data.data() + row * row_bytes, static_cast<size_t>(row_bytes)));
  }
  QUANTD_RETURN_IF_ERROR(AddSections(in, o, std::move(codes), std::move(nr.scales), &c, fallback, &enc));
  return enc;
}

void ExpectSameAsCpu(const std::vector<float>& w, int64_t rows, int64_t cols, const Params& user) {
  const Params resolved = *KashinMethod().Resolve(user, cols);
  const std::vector<int64_t> shape = {rows, cols};
  const Chunk in{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w};
  auto cpu = KashinMethod().Encode(in, resolved);
  auto twin = EncodeLikeTheGpu(w, rows, cols, user);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  ASSERT_EQ(cpu->sections.size(), twin->sections.size());
  for (size_t i = 0; i < cpu->sections.size(); ++i) {
    EXPECT_TRUE(cpu->sections[i] == twin->sections[i]) << "section " << cpu->sections[i].name << " differs, "
                                                       << rows << "x" << cols << " " << user.ToString();
  }
  EXPECT_EQ(cpu->stats, twin->stats) << rows << "x" << cols << " " << user.ToString();
}

TEST(KashinKernelsTest, PipelineOnTheHostGivesTheCpuBytes) {
  struct Case {
    int64_t rows, cols;
    Params p;
  };
  const std::vector<Case> cases = {
      {64, 64, {}},
      {33, 100, {}},                                 // cols not a power of two
      {40, 300, Params{{"block_length", "128"}}},    // a short last block
      {24, 256, Params{{"step_choice", "vector"}}},  // each vector's own choice
      {16, 512, Params{{"bits", "2"}, {"kmeans_restarts", "1"}}},
      {12, 96, Params{{"bits", "8"}}},                           // k = 256 > the sample's share
      {150, 128, Params{{"bits", "3"}, {"tolerance", "1e-5"}}},  // > kSumBlock points
      {8, 64, Params{{"max_iterations", "3"}, {"non_converged", "quantize"}}},
      {8, 64, Params{{"max_iterations", "3"}}},                                 // fallback rows: host path
      {32, 64, Params{{"transform", "dct"}}},                                   // radix-4 and radix-2 stages
      {20, 100, Params{{"transform", "dct_signed"}}},                           // 50 = 2 x 5 x 5: odd radices
      {16, 344, Params{{"transform", "dct"}, {"block_length", "75"}}},          // odd 75, last 44 = 4 x 11
      {12, 194, Params{{"transform", "dct"}}},                                  // 97 prime: Bluestein
      {9, 97, Params{{"transform", "dct_signed"}, {"step_choice", "vector"}}},  // odd n, Bluestein
  };
  for (const Case& c : cases) {
    std::vector<float> w =
        testing::StudentT(static_cast<size_t>(c.rows * c.cols), static_cast<uint64_t>(c.cols), 4.0);
    for (int64_t j = 0; j < c.cols; ++j)
      w[static_cast<size_t>(3 % c.rows * c.cols + j)] = 0.0f;  // a zero row
    ExpectSameAsCpu(w, c.rows, c.cols, c.p);
  }
}

// The same on the real models' linear layers (rows of 64-352 weights), with both step choices
// and with the DCT.
TEST(KashinKernelsTest, PipelineOnTheHostGivesTheCpuBytesOnRealWeights) {
  std::string error;
  const auto weights = testing::ReadLlama2c(testing::RealDataDir() + "/stories260K/stories260K.bin", &error);
  ASSERT_TRUE(error.empty()) << error << " (set QUANTD_DATA_DIR to the shared data folder)";
  for (const auto& m : weights.LinearLayers()) {
    ExpectSameAsCpu(m.data, m.rows, m.cols, {});
    ExpectSameAsCpu(m.data, m.rows, m.cols, Params{{"step_choice", "vector"}, {"bits", "2"}});
    ExpectSameAsCpu(m.data, m.rows, m.cols, Params{{"transform", "dct"}});  // 172 = 4 x 43: Bluestein
  }
}

// One vector decomposed by the kernel bodies with a block of real threads (barriers where the
// kernel has __syncthreads): the CPU's Decompose, bit for bit, for every thread count, including
// vectors longer than one summation chunk.
TEST(KashinKernelsTest, BlockOfThreadsIsTheCpuGreedy) {
  for (TransformKind kind : {TransformKind::kHadamard, TransformKind::kDct, TransformKind::kDctSigned}) {
    for (int64_t n : {1, 7, 64, 100, 300, 4096, 40000}) {
      const std::vector<float> x =
          testing::StudentT(static_cast<size_t>(n), static_cast<uint64_t>(n) + 1, 3.0);
      const GreedyOptions g{1e-3, 200, 0};
      auto q = GetTransform(kind, n, 9);
      ASSERT_TRUE(q.ok());
      std::vector<float> eu(n), ev(n), work(3 * n);
      const GreedyResult expect = Decompose(**q, x.data(), g, eu.data(), ev.data(), work.data());
      auto tables = MakeTransformTables(kind, n, 9);
      ASSERT_TRUE(tables.ok());
      // 64 threads for short vectors: more threads than (run, lane) items, as in the launches.
      for (int threads : {1, 3, 8, 64}) {
        if (n == 40000 && threads != 3) continue;  // enough: the order does not depend on threads
        if (threads == 64 && n > 300) continue;
        std::vector<float> u(n, 5.0f), v(n, 5.0f), r(n), y(n);
        const VectorArrays a{x.data(), u.data(), v.data(), r.data(), y.data()};
        HostScratch scratch(LayOutScratch(static_cast<int>(n), tables->WorkFloats()));
        std::barrier barrier(threads);
        auto sync = [&barrier] { barrier.arrive_and_wait(); };
        std::vector<GreedyState> states(static_cast<size_t>(threads));
        std::vector<std::thread> pool;
        for (int tid = 0; tid < threads; ++tid) {
          pool.emplace_back([&, tid] {
            GreedyState st = GreedyInit(a, tables->View(), g.tolerance, scratch.s, tid, threads, sync);
            GreedyOwnSteps(a, tables->View(), g.max_iterations, &st, scratch.s, tid, threads, sync);
            states[static_cast<size_t>(tid)] = st;
          });
        }
        for (std::thread& t : pool) t.join();
        const std::string what = std::string(TransformName(kind)) + " n=" + std::to_string(n) +
                                 " threads=" + std::to_string(threads);
        for (const GreedyState& st : states) {
          EXPECT_EQ(st.iterations, expect.iterations) << what;
          EXPECT_EQ(st.converged != 0, expect.converged) << what;
          EXPECT_EQ(st.residual, expect.residual) << what;
        }
        EXPECT_EQ(u, eu) << what;
        EXPECT_EQ(v, ev) << what;
      }
    }
  }
}

// The block transforms are transform.h's, both ways, bit for bit: every radix, odd lengths,
// Bluestein lengths (97, 194, 344 = 8 x 43), with one thread or several at a barrier.
TEST(KashinKernelsTest, BlockTransformsAreTheCpuTransforms) {
  for (TransformKind kind : {TransformKind::kHadamard, TransformKind::kDct, TransformKind::kDctSigned}) {
    for (int64_t n : {1, 2, 3, 5, 8, 12, 64, 75, 97, 100, 172, 194, 344, 1000, 4096}) {
      auto q = GetTransform(kind, n, 4);
      auto tables = MakeTransformTables(kind, n, 4);
      ASSERT_TRUE(q.ok() && tables.ok());
      const std::vector<float> x = testing::Gaussian(static_cast<size_t>(n), static_cast<uint64_t>(n));
      for (bool forward : {true, false}) {
        std::vector<float> expect = x;
        if (forward) {
          (*q)->Forward(expect.data());
        } else {
          (*q)->Inverse(expect.data());
        }
        for (int threads : {1, 4}) {
          std::vector<float> s = x, work(static_cast<size_t>(tables->WorkFloats()) + 1, -1.0f);
          std::barrier barrier(threads);
          auto sync = [&barrier] { barrier.arrive_and_wait(); };
          std::vector<std::thread> pool;
          for (int tid = 0; tid < threads; ++tid) {
            pool.emplace_back([&, tid] {
              TransformInBlock(tables->View(), forward, s.data(), work.data(), tid, threads, sync);
            });
          }
          for (std::thread& th : pool) th.join();
          ASSERT_EQ(s, expect) << TransformName(kind) << " n=" << n << (forward ? " forward" : " inverse")
                               << " threads=" << threads;
        }
      }
    }
  }
}

TEST(KashinKernelsTest, NearestCentroidIsTheBruteForceAssignment) {
  const std::vector<float> pu = testing::Gaussian(3000, 1), pv = testing::Gaussian(3000, 2);
  for (int k : {1, 2, 16, 256}) {
    Codebook c;
    for (int j = 0; j < k; ++j) {
      c.cu.push_back(pu[static_cast<size_t>(j * 7 % 3000)]);
      c.cv.push_back(j % 5 == 0 && j > 0 ? c.cv.back() : pv[static_cast<size_t>(j * 11 % 3000)]);
    }
    if (k > 2) c.cu[2] = c.cu[1], c.cv[2] = c.cv[1];  // a duplicate centroid: ties go to the lower index
    std::vector<uint8_t> expect(3000);
    AssignBrute(pu.data(), pv.data(), 3000, c, expect.data());
    for (size_t i = 0; i < 3000; ++i) {
      ASSERT_EQ(NearestCentroid(pu[i], pv[i], c.cu.data(), c.cv.data(), k), expect[i])
          << "k=" << k << " i=" << i;
    }
  }
}

TEST(KashinKernelsTest, PlanCoversRowsModeWithHadamardAndDct) {
  KashinOptions o;
  auto plan = PlanKashinCuda(o, 4096, 227 * 1024);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->len, 4096);
  EXPECT_EQ(plan->last, 4096);
  EXPECT_EQ(plan->threads, 128);  // 16 runs x 8 lanes
  EXPECT_GE(plan->scratch.bytes, 4096u * 4 + 16 * 8 * 12);
  EXPECT_EQ(plan->full.WorkFloats(), 0);  // Hadamard works in place
  EXPECT_EQ(plan->scratch.bytes % 16, 0u);

  o.block_length = 1000;
  plan = PlanKashinCuda(o, 2500, 48 * 1024);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->len, 1000);
  EXPECT_EQ(plan->last, 500);
  EXPECT_EQ(plan->threads, 64);  // 4 runs x 8 lanes, at least two warps

  o.block_length = 0;
  plan = PlanKashinCuda(o, 64, 48 * 1024);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->threads, 64);
  plan = PlanKashinCuda(o, 32768, 227 * 1024);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->threads, 256);

  EXPECT_THAT(PlanKashinCuda(o, 100000, 227 * 1024), StatusIs(StatusCode::kUnimplemented, "shared memory"));
  KashinOptions m;
  m.mode = KashinMode::kMatrix;
  EXPECT_THAT(PlanKashinCuda(m, 64, 227 * 1024), StatusIs(StatusCode::kUnimplemented, "mode=matrix"));
  KashinOptions d;
  d.transform = TransformKind::kQr;
  EXPECT_THAT(PlanKashinCuda(d, 64, 227 * 1024), StatusIs(StatusCode::kUnimplemented, "transform=qr"));
  // The DCT needs work space beside the vector: 4096 + 4 * 2048 + 2 + 2 * 2048 floats.
  d.transform = TransformKind::kDct;
  plan = PlanKashinCuda(d, 4096, 227 * 1024);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_GE(plan->scratch.bytes, (4096u + 4 * 2048 + 2 + 2 * 2048) * 4);
  EXPECT_EQ(plan->full.WorkFloats(), 4 * 2048 + 2 + 2 * 2048);
  // 11008 = 2^8 x 43: its half, 5504, goes through Bluestein with 16384 points: too big for a block.
  EXPECT_THAT(PlanKashinCuda(d, 11008, 227 * 1024), StatusIs(StatusCode::kUnimplemented, "shared memory"));
  d.block_length = 1024;
  plan = PlanKashinCuda(d, 11008, 227 * 1024);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->last, 768);
  EXPECT_EQ(plan->last_q.n, 768);
}

}  // namespace
}  // namespace quantd::kashin_internal
