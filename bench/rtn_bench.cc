// RTN throughput on a 4096 x 4096 F32 matrix: encode and decode, bytes of F32 input per second,
// and each as a ratio to memcpy of the same buffer measured in the same run.
//   build/bin/rtn_bench --benchmark_counters_tabular=true
// Arguments: bits, group size, threads (the TBB arena size; 0 means all cores).
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <string>
#include <vector>

#include "quantd/core/quantize.h"
#include "throughput.h"

namespace quantd::bench {
namespace {

Params BenchParams(const benchmark::State& state) {
  return {{"bits", std::to_string(state.range(0))}, {"group_size", std::to_string(state.range(1))}};
}

void BM_RtnEncode(benchmark::State& state) {
  const Params p = BenchParams(state);
  tbb::task_arena arena(Threads(state, 2));
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
  const Params p = BenchParams(state);
  tbb::task_arena arena(Threads(state, 2));
  auto enc = EncodeRows(Block(), "rtn", p);
  std::vector<float> out(kRows * kCols);
  for (auto _ : state) {
    arena.execute([&] { benchmark::DoNotOptimize(DecodeRows(*enc, out)); });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

BENCHMARK(BM_RtnEncode)
    ->ArgsProduct({{4, 8}, {32, 128}, {1, 0}})
    ->ArgNames({"bits", "group", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_RtnDecode)
    ->ArgsProduct({{4, 8}, {32, 128}, {1, 0}})
    ->ArgNames({"bits", "group", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) { return quantd::bench::RunWithRatios(argc, argv); }
