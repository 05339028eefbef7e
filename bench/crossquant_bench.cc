// CrossQuant throughput on a 4096 x 4096 F32 matrix, in bytes of F32 input per second, and each
// figure as a ratio to memcpy of the same buffer measured in the same run (printed at the end).
//   build/bin/crossquant_bench --benchmark_counters_tabular=true
// The thread argument is the TBB arena size; 0 means all cores. "Encode" is EncodeRows, what a
// server runs (it first checks every input is finite: one more read of the input); "Method" is
// the method's own Encode (maxima pass + quantizing pass); "Kernels" the fast path with each
// row-kernel variant forced, on one thread.
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <string>
#include <vector>

#include "core/crossquant/crossquant.h"
#include "quantd/core/quantize.h"
#include "throughput.h"

namespace quantd::bench {
namespace {

Params BenchParams(const benchmark::State& state) {
  return {{"bits", std::to_string(state.range(0))}, {"alpha", "0.15"}};
}

void BM_CrossQuantEncode(benchmark::State& state) {
  const Params p = BenchParams(state);
  tbb::task_arena arena(Threads(state));
  for (auto _ : state) {
    arena.execute([&] {
      auto e = EncodeRows(Block(), "crossquant", p);
      if (!e.ok()) state.SkipWithError(e.status().ToString().c_str());
      benchmark::DoNotOptimize(e);
    });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

void BM_CrossQuantMethod(benchmark::State& state) {
  const Method& m = CrossQuantMethod();
  auto p = m.Resolve(BenchParams(state), kCols);
  tbb::task_arena arena(Threads(state));
  for (auto _ : state) {
    arena.execute([&] {
      auto e = m.Encode(Block(), *p);
      benchmark::DoNotOptimize(e);
    });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

// The fast path alone on one thread, for each row-kernel variant (1 portable, 2 AVX2, 3 AVX-512:
// the values of crossquant_internal::Isa).
void BM_CrossQuantKernels(benchmark::State& state) {
  const auto isa = static_cast<crossquant_internal::Isa>(state.range(1));
  if (!crossquant_internal::IsaAvailable(isa)) {
    state.SkipWithError("variant not available on this CPU");
    return;
  }
  CrossQuantOptions o;
  o.bits = static_cast<int>(state.range(0));
  tbb::task_arena arena(1);
  for (auto _ : state) {
    arena.execute([&] {
      crossquant_internal::Block b;
      benchmark::DoNotOptimize(
          crossquant_internal::EncodeFast(Matrix().data(), kRows, kCols, o, nullptr, &b, isa));
    });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

void BM_CrossQuantDecode(benchmark::State& state) {
  tbb::task_arena arena(Threads(state));
  auto enc = EncodeRows(Block(), "crossquant", BenchParams(state));
  std::vector<float> out(kRows * kCols);
  for (auto _ : state) {
    arena.execute([&] { benchmark::DoNotOptimize(DecodeRows(*enc, out)); });
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CrossQuantMethod)
    ->ArgsProduct({{4, 8}, {1, 0}})
    ->ArgNames({"bits", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_CrossQuantKernels)
    ->ArgsProduct({{4, 8}, {1, 2, 3}})
    ->ArgNames({"bits", "isa"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_CrossQuantEncode)
    ->ArgsProduct({{4, 8}, {1, 0}})
    ->ArgNames({"bits", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_CrossQuantDecode)
    ->ArgsProduct({{4, 8}, {1, 0}})
    ->ArgNames({"bits", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) { return quantd::bench::RunWithRatios(argc, argv); }
