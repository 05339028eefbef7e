// PVQ's CUDA pipeline on the CPU: every kernel body of pvq_kernels.h run on the host, pass by
// pass as pvq.cu launches them, must give the CPU encoder's bytes; the rotation also runs with
// real threads and a barrier, as a thread block does; and the launch plan's arithmetic. What only
// a GPU can check (the device compilation of the same source, launches, transfers, atomics) is in
// cuda_test.cc.
#include "core/pvq/pvq_kernels.h"

#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "core/common/bitpack.h"
#include "core/common/hadamard.h"
#include "quantd/core/quantize.h"
#include "tests/testing/test_util.h"

namespace quantd::pvq_internal {
namespace {

using ::quantd::testing::StatusIs;

struct NoSync {
  void operator()() const {}
};

// The CUDA encoder's passes with every kernel body run on the host: rotation (one "thread" per
// row), search, fit and pack, chunk by chunk with the plan's pass size.
StatusOr<Encoding> EncodeLikeTheGpu(const std::vector<float>& w, int64_t rows, int64_t cols,
                                    const Params& user, int64_t chunk_weights) {
  QUANTD_ASSIGN_OR_RETURN(Params resolved, PvqMethod().Resolve(user, cols));
  QUANTD_ASSIGN_OR_RETURN(PvqOptions o, ResolvedOptions(resolved));
  QUANTD_ASSIGN_OR_RETURN(RowCodec c, MakeRowCodec(o, cols));
  QUANTD_ASSIGN_OR_RETURN(CudaPlan plan,
                          PlanCudaEncode(c.layout, rows, o.rotate, int64_t{1} << 30, chunk_weights));
  const PvqLayout& lay = c.layout;
  std::vector<float> signs(static_cast<size_t>(cols)), second(static_cast<size_t>(plan.rotate_p));
  if (o.rotate) {
    const RandomizedHadamard rot(cols, static_cast<uint64_t>(o.seed));
    for (int64_t i = 0; i < cols; ++i) signs[i] = rot.sign(i);
    if (plan.rotate_p != cols) {
      for (int i = 0; i < plan.rotate_p; ++i) second[i] = rot.second_sign(i);
    }
  }
  const float* levels = c.levels ? c.levels->data() : nullptr;
  const int n_levels = c.levels ? static_cast<int>(c.levels->size()) : 0;
  const float* tail = c.tail_levels ? c.tail_levels->data() : nullptr;
  const int n_tail = c.tail_levels ? static_cast<int>(c.tail_levels->size()) : 0;
  std::vector<float> scales(static_cast<size_t>(rows));
  std::vector<uint8_t> out(static_cast<size_t>(rows * lay.row_bytes));
  RowStats total;
  for (int64_t pass = 0; pass < plan.chunks(); ++pass) {
    const int64_t r0 = pass * plan.chunk_rows, n = std::min(plan.chunk_rows, rows - r0);
    std::vector<float> x(w.begin() + r0 * cols, w.begin() + (r0 + n) * cols);
    if (o.rotate) {
      std::vector<float> s(static_cast<size_t>(cols));
      NoSync sync;
      for (int64_t r = 0; r < n; ++r) {
        RotateRow(x.data() + r * cols, s.data(), x.data() + r * cols, static_cast<int>(cols), plan.rotate_p,
                  signs.data(), second.data(), plan.rotate_scale, 0, 1, sync);
      }
    }
    const int64_t n_groups = n * plan.groups;
    std::vector<int32_t> p(static_cast<size_t>(n * cols));
    std::vector<double> fitted(static_cast<size_t>(n_groups));
    std::vector<uint8_t> codes(static_cast<size_t>(n_groups));
    std::vector<uint32_t> stream(static_cast<size_t>(n * plan.row_words), 0);
    for (int64_t gidx = 0; gidx < n_groups; ++gidx) {
      SearchResult r;
      switch (plan.search_cap) {
        case 32:
          r = SearchGroup<32>(x.data(), lay, o.search, gidx, p.data(), fitted.data());
          break;
        case 64:
          r = SearchGroup<64>(x.data(), lay, o.search, gidx, p.data(), fitted.data());
          break;
        case 128:
          r = SearchGroup<128>(x.data(), lay, o.search, gidx, p.data(), fitted.data());
          break;
        default:
          r = SearchGroup<256>(x.data(), lay, o.search, gidx, p.data(), fitted.data());
          break;
      }
      total.hull_evals += r.hull_evals;
      total.improved_groups += r.improved;
    }
    for (int64_t r = 0; r < n; ++r) {
      scales[r0 + r] = FitRow(fitted.data() + r * plan.groups, lay, levels, n_levels, tail, n_tail,
                              c.scale_dtype, codes.data() + r * plan.groups);
    }
    DispatchWords(c.table->words(), [&](auto wc) {
      constexpr int W = decltype(wc)::value;
      for (int64_t gidx = 0; gidx < n_groups; ++gidx) {
        PackGroup<W>(c.table->counts(), lay, p.data(), codes.data(), gidx, stream.data(), plan.row_words);
      }
    });
    for (int64_t r = 0; r < n; ++r) {  // what cudaMemcpy2DAsync keeps of each row
      memcpy(out.data() + (r0 + r) * lay.row_bytes, stream.data() + r * plan.row_words,
             static_cast<size_t>(lay.row_bytes));
    }
  }
  Encoding enc;
  enc.sections.push_back(Section::Zeros("scales", o.scale_dtype, {rows, 1}));
  enc.sections.push_back(
      Section{.name = "codes", .dtype = DType::kU8, .shape = {rows, lay.row_bytes}, .data = out});
  QUANTD_RETURN_IF_ERROR(StoreRowScales(scales, 0, o.scale_dtype, enc.sections[0].data.data()));
  SetStats(o, total, enc);
  return enc;
}

StatusOr<Encoding> EncodeOnTheCpu(const std::vector<float>& w, int64_t rows, int64_t cols,
                                  const Params& user) {
  const std::vector<int64_t> shape = {rows, cols};
  Chunk b{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w};
  QUANTD_ASSIGN_OR_RETURN(Encoding e, EncodeRows(b, "pvq", user, {.device = Device::kCpu}));
  Encoding plain;  // sections and stats only, as the encoder returns them
  plain.sections = e.sections;
  plain.stats = e.stats;
  return plain;
}

// The pipeline's bodies give the CPU encoder's bytes and stats: group sizes 8 to 256, both
// searches, row lengths with and without a shorter last group, single-group rows, both scale
// types, with and without rotation, zero rows, several passes per block.
TEST(PvqKernelsTest, HostRunOfTheKernelBodiesIsTheCpuEncoding) {
  struct Case {
    int64_t rows, cols;
    Params params;
  };
  const Case cases[] = {
      {9, 64, {{"bits", "3.25"}}},
      {7, 172, {{"bits", "4.125"}}},
      {5, 172, {{"bits", "2.5"}, {"group_size", "64"}}},
      {3, 4096, {{"bits", "3.25"}}},
      {2, 4096, {{"bits", "4.125"}, {"group_size", "64"}}},
      {6, 300, {{"bits", "3"}, {"group_size", "8"}}},
      {4, 1000, {{"bits", "5"}, {"group_size", "128"}, {"gain_codebook", "quantile"}}},
      {3, 600, {{"k", "300"}, {"group_size", "256"}}},
      {5, 20, {{"k", "9"}, {"group_size", "32"}}},  // one shorter group per row: no gain codes
      {4, 97, {{"bits", "6"}, {"group_size", "16"}, {"gain_bits", "7"}}},
  };
  uint64_t seed = 70;
  for (const Case& c : cases) {
    std::vector<float> w = testing::StudentT(static_cast<size_t>(c.rows * c.cols), seed++, 3.0, 0.02f);
    for (int64_t j = 0; j < c.cols; ++j) w[static_cast<size_t>(c.cols + j)] = 0.0f;  // a zero row
    for (const char* search : {"exact", "greedy"}) {
      for (const char* sd : {"f16", "f32"}) {
        for (const char* rotation : {"hadamard", "none"}) {
          Params p = c.params;
          p.Set("search", search);
          p.Set("scale_dtype", sd);
          p.Set("rotation", rotation);
          p.SetInt("seed", static_cast<int64_t>(seed));
          auto cpu = EncodeOnTheCpu(w, c.rows, c.cols, p);
          ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
          for (int64_t chunk : {int64_t{1} << 23, 2 * c.cols, int64_t{1}}) {  // one pass, pairs of rows, rows
            auto twin = EncodeLikeTheGpu(w, c.rows, c.cols, p, chunk);
            ASSERT_TRUE(twin.ok()) << twin.status().ToString();
            ASSERT_EQ(*twin, *cpu) << c.rows << "x" << c.cols << " " << p.ToString() << " chunk " << chunk;
          }
        }
      }
    }
  }
}

TEST(PvqKernelsTest, ScaleOverflowIsReportedForTheSameRow) {
  std::vector<float> w(4 * 64, 0.01f);
  for (int j = 0; j < 64; ++j) w[2 * 64 + j] = 3e4f;  // row 2: norm 2.4e5 > 65504
  const Params p{{"scale_dtype", "f16"}};
  EXPECT_THAT(EncodeOnTheCpu(w, 4, 64, p), StatusIs(StatusCode::kInvalidArgument, "row 2 is too large"));
  EXPECT_THAT(EncodeLikeTheGpu(w, 4, 64, p, 1 << 23),
              StatusIs(StatusCode::kInvalidArgument, "row 2 is too large"));
}

// RotateRow is hadamard.cc's transform bit for bit, with one thread or with a block of real
// threads meeting at a barrier where the kernel calls __syncthreads (a missing barrier shows up
// as a race on the shared row).
TEST(PvqKernelsTest, BlockRotationIsTheRandomizedHadamard) {
  for (int64_t n : {1, 2, 3, 8, 64, 100, 172, 1000, 4096}) {
    const RandomizedHadamard rot(n, 5);
    int64_t p = 1;
    while (p * 2 <= n) p *= 2;
    std::vector<float> signs(n), second(p);
    for (int64_t i = 0; i < n; ++i) signs[i] = rot.sign(i);
    if (p != n) {
      for (int64_t i = 0; i < p; ++i) second[i] = rot.second_sign(i);
    }
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p)));
    const std::vector<float> x = testing::StudentT(static_cast<size_t>(n), static_cast<uint64_t>(n), 3.0);
    std::vector<float> expect = x;
    rot.Forward(expect.data());
    for (int threads : {1, 3, 8}) {
      std::vector<float> in = x, s(n), out(n, -1.0f);
      std::barrier barrier(threads);
      auto sync = [&barrier] { barrier.arrive_and_wait(); };
      std::vector<std::thread> pool;
      for (int tid = 0; tid < threads; ++tid) {
        pool.emplace_back([&, tid] {
          RotateRow(in.data(), s.data(), out.data(), static_cast<int>(n), static_cast<int>(p), signs.data(),
                    second.data(), scale, tid, threads, sync);
        });
      }
      for (std::thread& t : pool) t.join();
      ASSERT_EQ(out, expect) << "n=" << n << " threads=" << threads;
    }
  }
}

// OrBits lays fields out as bitpack.h's BitWriter does, at every offset within a word and for
// every width up to 64 bits.
TEST(PvqKernelsTest, OrBitsMatchesBitWriter) {
  uint64_t state = 11;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::pair<uint64_t, int>> fields;
    size_t total = 0;
    for (int f = 0; f < 40; ++f) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const int bits = static_cast<int>((state >> 33) % 65);
      fields.push_back({state ^ (state << 17), bits});
      total += static_cast<size_t>(bits);
    }
    const size_t bytes = (total + 7) / 8;
    std::vector<uint8_t> expect(bytes, 0);
    BitWriter writer(expect);
    std::vector<uint32_t> words((bytes + 3) / 4, 0);
    int64_t pos = 0;
    for (const auto& [v, bits] : fields) {
      writer.Put(v, bits);
      OrBits(words.data(), pos, v, bits);
      pos += bits;
    }
    std::vector<uint8_t> got(bytes);
    memcpy(got.data(), words.data(), bytes);
    ASSERT_EQ(got, expect) << "trial " << trial;
    for (size_t i = bytes; i < words.size() * 4; ++i) {
      ASSERT_EQ(reinterpret_cast<const uint8_t*>(words.data())[i], 0) << "padding stays zero";
    }
  }
}

TEST(PvqKernelsTest, Plan) {
  PvqOptions o;
  o.gain_bits = 4;
  o.k = 54;
  auto lay = MakeLayout(o, 4096);
  ASSERT_TRUE(lay.ok());
  auto plan = PlanCudaEncode(*lay, 16384, true, 227 * 1024);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->groups, 128);
  EXPECT_EQ(plan->chunk_rows, 2048);  // 2^23 weights per pass
  EXPECT_EQ(plan->chunks(), 8);
  EXPECT_EQ(plan->row_words, (lay->row_bytes + 3) / 4);
  EXPECT_EQ(plan->rotate_p, 4096);
  EXPECT_EQ(plan->rotate_threads, 1024);
  EXPECT_EQ(plan->rotate_smem, 4096u * 4);
  EXPECT_EQ(plan->rotate_scale, 0.015625f);
  EXPECT_EQ(plan->search_cap, 32);

  // A shorter last pass; a non-power-of-two row; few butterflies still make a whole warp.
  auto lay172 = MakeLayout(o, 172);
  ASSERT_TRUE(lay172.ok());
  plan = PlanCudaEncode(*lay172, 10, true, 48 * 1024, 172 * 4);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->groups, 6);
  EXPECT_EQ(plan->chunk_rows, 4);
  EXPECT_EQ(plan->chunks(), 3);
  EXPECT_EQ(plan->rotate_p, 128);
  EXPECT_EQ(plan->rotate_threads, 64);
  EXPECT_EQ(plan->rotate_scale, static_cast<float>(1.0 / std::sqrt(128.0)));
  auto lay8 = MakeLayout(o, 8);
  ASSERT_TRUE(lay8.ok());
  plan = PlanCudaEncode(*lay8, 3, true, 48 * 1024);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chunk_rows, 3);
  EXPECT_EQ(plan->rotate_threads, 32);

  // Rows longer than a pass still go one per pass; rows longer than shared memory need the CPU
  // when rotated, not without rotation.
  auto lay_long = MakeLayout(o, 1 << 16);
  ASSERT_TRUE(lay_long.ok());
  plan = PlanCudaEncode(*lay_long, 5, false, 227 * 1024, 1000);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chunk_rows, 1);
  EXPECT_EQ(plan->rotate_p, 0);
  EXPECT_EQ(plan->rotate_threads, 0);
  EXPECT_THAT(PlanCudaEncode(*lay_long, 5, true, 227 * 1024),
              StatusIs(StatusCode::kUnimplemented, "262144 bytes of shared memory"));

  // The search's per-thread capacity follows the group size.
  for (auto [d, cap] : {std::pair{2, 32}, {32, 32}, {33, 64}, {64, 64}, {100, 128}, {129, 256}, {256, 256}}) {
    PvqOptions od = o;
    od.group_size = d;
    od.k = 4;
    auto l = MakeLayout(od, 1024);
    ASSERT_TRUE(l.ok());
    auto pl = PlanCudaEncode(*l, 2, true, 48 * 1024);
    ASSERT_TRUE(pl.ok());
    EXPECT_EQ(pl->search_cap, cap) << "group_size " << d;
  }
}

}  // namespace
}  // namespace quantd::pvq_internal
