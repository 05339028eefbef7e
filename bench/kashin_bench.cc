// Kashin throughput on a 4096 x 4096 F32 heavy-tailed matrix (tests/testing/random_tensors.h): encode in rows
// mode (Hadamard, DCT; in quantctl's default chunks of 256 rows, each its own slice) and matrix
// mode (the whole matrix), decode, and the kernels on their own (transforms of one row, k-means
// of 1M factor pairs). The DCT is compared with FFTW's REDFT10 when the
// build finds libfftw3f (benchmark only: the core does not depend on FFTW).
//   build/bin/kashin_bench --benchmark_counters_tabular=true
// The thread argument is the TBB arena size. "weights/s" counts input weights per second of
// wall time; divide by the threads for weights per second per core.
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/common/hadamard.h"
#include "core/kashin/dct.h"
#include "core/kashin/kashin.h"
#include "core/kashin/transform.h"
#include "quantd/core/quantize.h"
#include "tests/testing/random_tensors.h"
#if QUANTD_BENCH_FFTW
#include <fftw3.h>
#endif

namespace quantd::bench {
namespace {

using testing::HeavyTailedMatrix;

constexpr int64_t kRows = 4096, kCols = 4096;

const std::vector<float>& Matrix() {
  static const std::vector<float> w = HeavyTailedMatrix(kRows, kCols, 1);
  return w;
}

const std::vector<int64_t> kShape = {kRows, kCols};

// Rows r0 .. r0 + n of the matrix: one chunk as quantctl cuts it.
Chunk Rows(int64_t r0, int64_t n) {
  return Chunk{.tensor_name = "bench",
               .shape = kShape,
               .row_begin = r0,
               .rows = n,
               .cols = kCols,
               .data = std::span<const float>(Matrix()).subspan(static_cast<size_t>(r0 * kCols),
                                                                static_cast<size_t>(n * kCols))};
}

// quantctl's default chunk: 4 MiB of F32, 256 rows of 4096.
constexpr int64_t kChunkRows = 256;

const char* TransformArg(int64_t i) { return i == 0 ? "hadamard" : i == 1 ? "dct" : "dct_signed"; }

// Encodes the matrix in chunks of chunk_rows rows, one after another (each chunk uses the
// arena's threads), and reports the last chunk's bits per weight and greedy statistics.
void Encode(benchmark::State& state, const Params& p, int64_t chunk_rows) {
  tbb::task_arena arena(static_cast<int>(state.range(2)));
  double steps = 0, vectors = 0, not_converged = 0, bits = 0;
  for (auto _ : state) {
    steps = vectors = not_converged = bits = 0;
    arena.execute([&] {
      for (int64_t r0 = 0; r0 < kRows; r0 += chunk_rows) {
        auto e = EncodeRows(Rows(r0, chunk_rows), "kashin", p);
        if (!e.ok()) {
          state.SkipWithError(e.status().ToString().c_str());
          return;
        }
        steps += e->stats["iterations_sum"];
        vectors += e->stats["vectors"];
        not_converged += e->stats["vectors_not_converged"];
        bits += 8.0 * static_cast<double>(e->SectionBytes());
      }
    });
  }
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kRows * kCols),
                                                   benchmark::Counter::kIsRate);
  state.counters["bpw"] = bits / static_cast<double>(kRows * kCols);
  state.counters["greedy_steps"] = steps / vectors;
  state.counters["not_converged"] = not_converged;
}

// Args: transform (0 hadamard, 1 dct, 2 dct_signed), bits, threads.
void BM_KashinEncodeRows(benchmark::State& state) {
  Encode(state, {{"transform", TransformArg(state.range(0))}, {"bits", std::to_string(state.range(1))}},
         kChunkRows);
}

// The paper's matrix mode: one vector of 16.7M weights under Q1 X Q2^T. It does not reach the
// default tolerance in 100 steps on this matrix (it needs several hundred); capped at 100 and
// quantized anyway, so the time is that of 100 steps plus the clustering.
void BM_KashinEncodeMatrix(benchmark::State& state) {
  Encode(state,
         {{"transform", TransformArg(state.range(0))},
          {"bits", std::to_string(state.range(1))},
          {"mode", "matrix"},
          {"max_iterations", "100"},
          {"non_converged", "quantize"}},
         kRows);
}

void BM_KashinDecodeRows(benchmark::State& state) {
  tbb::task_arena arena(static_cast<int>(state.range(2)));
  const Params p{{"transform", TransformArg(state.range(0))}, {"bits", std::to_string(state.range(1))}};
  std::vector<Encoding> chunks;
  for (int64_t r0 = 0; r0 < kRows; r0 += kChunkRows)
    chunks.push_back(*EncodeRows(Rows(r0, kChunkRows), "kashin", p));
  std::vector<float> out(kRows * kCols);
  for (auto _ : state) {
    arena.execute([&] {
      for (size_t i = 0; i < chunks.size(); ++i) {
        benchmark::DoNotOptimize(DecodeRows(
            chunks[i],
            std::span<float>(out).subspan(i * kChunkRows * kCols, static_cast<size_t>(kChunkRows * kCols))));
      }
    });
  }
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kRows * kCols),
                                                   benchmark::Counter::kIsRate);
}

// One transform of a 4096-long float row (the greedy algorithm runs one per step).
void BM_Transform(benchmark::State& state) {
  const auto kind = static_cast<kashin_internal::TransformKind>(state.range(0));
  auto q = *kashin_internal::GetTransform(kind, state.range(1), 1);
  std::vector<float> x(Matrix().begin(), Matrix().begin() + state.range(1));
  for (auto _ : state) {
    q->Forward(x.data());
    q->Inverse(x.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(kashin_internal::TransformName(kind)) + " forward+inverse");
  state.SetItemsProcessed(state.iterations() * 2);
}

#if QUANTD_BENCH_FFTW
// FFTW's orthonormal-up-to-scaling DCT-II (REDFT10) and DCT-III (REDFT01) of the same length,
// planned with FFTW_MEASURE; the scaling pass quantd's plan folds in is not counted here.
void BM_FftwDct(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  float* x = fftwf_alloc_real(n);
  fftwf_plan fwd = fftwf_plan_r2r_1d(n, x, x, FFTW_REDFT10, FFTW_MEASURE);
  fftwf_plan inv = fftwf_plan_r2r_1d(n, x, x, FFTW_REDFT01, FFTW_MEASURE);
  std::memcpy(x, Matrix().data(), static_cast<size_t>(n) * sizeof(float));
  for (auto _ : state) {
    fftwf_execute(fwd);
    fftwf_execute(inv);
    for (int i = 0; i < n; ++i) x[i] *= 1.0f / (2.0f * n);
    benchmark::ClobberMemory();
  }
  fftwf_destroy_plan(fwd);
  fftwf_destroy_plan(inv);
  fftwf_free(x);
  state.SetLabel("fftw REDFT10+REDFT01");
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_FftwDct)->Arg(4096)->Arg(352)->Arg(11008)->Unit(benchmark::kMicrosecond);
#endif

// k-means of 1M (u, v) pairs from real decompositions, 2^bits centroids, one thread: all four
// steps (fit_only=0), or steps 2-3 on the gathered sample alone (fit_only=1).
void BM_KMeans(benchmark::State& state) {
  constexpr int64_t kRowsK = 256;
  static std::vector<float> u, v;
  if (u.empty()) {
    u.resize(kRowsK * kCols);
    v.resize(kRowsK * kCols);
    auto q = *kashin_internal::GetTransform(kashin_internal::TransformKind::kHadamard, kCols, 0);
    std::vector<float> x(kCols), work(3 * kCols);
    for (int64_t r = 0; r < kRowsK; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < kCols; ++i) ss += double(Matrix()[r * kCols + i]) * Matrix()[r * kCols + i];
      const float s = static_cast<float>(std::sqrt(ss / kCols));
      for (int64_t i = 0; i < kCols; ++i) x[i] = Matrix()[r * kCols + i] / s;
      kashin_internal::Decompose(*q, x.data(), {1e-3, 100}, u.data() + r * kCols, v.data() + r * kCols,
                                 work.data());
    }
  }
  KashinOptions o;
  o.bits = static_cast<int>(state.range(0));
  const kashin_internal::KMeansOptions ko = kashin_internal::KMeansOptionsFor(o);
  std::vector<uint8_t> labels(u.size());
  // part 1: only steps 2-3 on the gathered sample, what the CUDA encoder leaves to the host.
  const bool fit_only = state.range(1) == 1;
  std::vector<float> su, sv;
  for (int64_t i : kashin_internal::SampleIndices(kRowsK * kCols, ko.sample_size, ko.seed)) {
    su.push_back(u[static_cast<size_t>(i)]);
    sv.push_back(v[static_cast<size_t>(i)]);
  }
  tbb::task_arena arena(1);
  for (auto _ : state) {
    arena.execute([&] {
      if (fit_only) {
        benchmark::DoNotOptimize(
            kashin_internal::FitSample(su.data(), sv.data(), static_cast<int64_t>(su.size()), ko));
      } else {
        benchmark::DoNotOptimize(
            kashin_internal::KMeans2D(u.data(), v.data(), kRowsK * kCols, ko, labels.data()));
      }
    });
  }
  state.counters["points/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kRowsK * kCols),
                                                  benchmark::Counter::kIsRate);
}

BENCHMARK(BM_KashinEncodeRows)
    ->ArgsProduct({{0, 1}, {4}, {1, 2}})
    ->ArgsProduct({{0}, {2, 8}, {1}})
    ->ArgNames({"transform", "bits", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_KashinEncodeMatrix)
    ->ArgsProduct({{0, 1}, {4}, {1, 2}})
    ->ArgNames({"transform", "bits", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK(BM_KashinDecodeRows)
    ->ArgsProduct({{0, 1}, {4}, {1, 2}})
    ->ArgNames({"transform", "bits", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Transform)
    ->ArgsProduct({{0, 1, 2}, {4096, 352, 11008}})
    ->ArgNames({"kind", "n"})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Transform)->Args({3, 1024})->ArgNames({"kind", "n"})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_KMeans)
    ->ArgsProduct({{2, 4, 8}, {0, 1}})
    ->ArgNames({"bits", "fit_only"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) {
  quantd::bench::Matrix();  // build the matrix outside the timed loops
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
