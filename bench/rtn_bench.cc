// RTN throughput on a 4096 x 4096 F32 matrix: encode and decode, bytes of F32 input per second.
//   build/bin/rtn_bench --benchmark_counters_tabular=true
// The thread argument is the TBB arena size; 0 means all cores.
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <cstring>
#include <vector>

#include "quantd/core/quantize.h"
#include "synthetic.h"

namespace quantd::bench {
namespace {

constexpr int64_t kRows = 4096, kCols = 4096;

const std::vector<float>& Matrix() {
  static const std::vector<float> w = HeavyTailedMatrix(kRows, kCols, 1);
  return w;
}

// Generated once, before any timing starts (see main below).
RowBlock Block() {
  static const std::vector<int64_t> shape = {kRows, kCols};
  return RowBlock{.tensor_name = "bench", .shape = shape, .rows = kRows, .cols = kCols, .data = Matrix()};
}

int Threads(const benchmark::State& state) {
  return state.range(1) > 0 ? static_cast<int>(state.range(1)) : tbb::task_arena::automatic;
}

void BM_RtnEncode(benchmark::State& state) {
  const Params p{{"bits", std::to_string(state.range(0))}};
  tbb::task_arena arena(Threads(state));
  for (auto _ : state) {
    arena.execute([&] {
      auto e = EncodeRows(Block(), "rtn", p);
      benchmark::DoNotOptimize(e);
    });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kRows * kCols),
                                                   benchmark::Counter::kIsRate);
}

void BM_RtnDecode(benchmark::State& state) {
  const Params p{{"bits", std::to_string(state.range(0))}};
  tbb::task_arena arena(Threads(state));
  auto enc = EncodeRows(Block(), "rtn", p);
  std::vector<float> out(kRows * kCols);
  for (auto _ : state) {
    arena.execute([&] { benchmark::DoNotOptimize(DecodeRows(*enc, out)); });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

// The memory-bandwidth yardstick for the same buffer, measured in the same run.
void BM_Memcpy(benchmark::State& state) {
  std::vector<float> dst(kRows * kCols);
  for (auto _ : state) {
    memcpy(dst.data(), Matrix().data(), dst.size() * 4);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

BENCHMARK(BM_RtnEncode)->ArgsProduct({{4, 8}, {1, 0}})->ArgNames({"bits", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RtnDecode)->ArgsProduct({{4, 8}, {1, 0}})->ArgNames({"bits", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) {
  quantd::bench::Block();  // build the matrix outside the timed loops
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
