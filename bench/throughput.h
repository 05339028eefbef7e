// Shared pieces of the throughput benchmarks: the 4096 x 4096 heavy-tailed F32 matrix every
// method is timed on, the TBB arena size argument, memcpy of the same buffer as the
// memory-bandwidth yardstick, and a main() that prints every result as a ratio to that memcpy
// measured in the same run (the machines are shared, so absolute timings are noisy).
#ifndef QUANTD_BENCH_THROUGHPUT_H_
#define QUANTD_BENCH_THROUGHPUT_H_

#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "quantd/core/chunk.h"
#include "tests/testing/random_tensors.h"

namespace quantd::bench {

inline constexpr int64_t kRows = 4096, kCols = 4096;

inline const std::vector<float>& Matrix() {
  static const std::vector<float> w = testing::HeavyTailedMatrix(kRows, kCols, 1);
  return w;
}

inline Chunk Block() {
  static const std::vector<int64_t> shape = {kRows, kCols};
  return Chunk{.tensor_name = "bench", .shape = shape, .rows = kRows, .cols = kCols, .data = Matrix()};
}

// The arena size of a benchmark whose argument `pos` (1 unless given) is a thread count (0: all
// cores).
inline int Threads(const benchmark::State& state, size_t pos = 1) {
  return state.range(pos) > 0 ? static_cast<int>(state.range(pos)) : tbb::task_arena::automatic;
}

// memcpy of the matrix, on one core. Register with BENCHMARK(BM_Memcpy) in each program.
inline void BM_Memcpy(benchmark::State& state) {
  std::vector<float> dst(kRows * kCols);
  for (auto _ : state) {
    memcpy(dst.data(), Matrix().data(), dst.size() * 4);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

// The console output, then every run's (with repetitions, every median's) bytes per second as a
// ratio to BM_Memcpy's.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Plain tabular text: a reporter passed to RunSpecifiedBenchmarks does not see --benchmark_color,
  // and the output goes into Markdown (bench/RESULTS.md).
  RatioReporter() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("bytes_per_second");
      const bool wanted = r.run_type == Run::RT_Iteration || r.aggregate_name == "median";
      if (wanted && !r.error_occurred && it != r.counters.end()) {
        const double cpu = r.GetAdjustedCPUTime(), real = r.GetAdjustedRealTime();
        rates_.push_back({r.benchmark_name(), it->second.value, cpu > 0 ? it->second.value * real / cpu : 0});
      }
    }
  }
  // Two ratios: by wall-clock time, and by the calling thread's CPU time, which on a shared
  // machine is less disturbed by other processes but only means something for one-thread runs.
  void PrintRatios() const {
    const Rate* base = nullptr;
    for (const Rate& r : rates_) {
      if (r.name.rfind("BM_Memcpy", 0) == 0) base = &r;
    }
    if (base == nullptr || base->real <= 0 || base->cpu <= 0) return;
    std::printf(
        "\nratio to memcpy of the same buffer on one core, same run (%.2f GB/s wall, %.2f GB/s CPU):\n",
        base->real / 1e9, base->cpu / 1e9);
    std::printf("  %-56s %9s %6s %9s %6s\n", "", "wall GB/s", "ratio", "CPU GB/s", "ratio");
    for (const Rate& r : rates_) {
      std::printf("  %-56s %9.2f %6.2f %9.2f %6.2f\n", r.name.c_str(), r.real / 1e9, r.real / base->real,
                  r.cpu / 1e9, r.cpu / base->cpu);
    }
  }

 private:
  struct Rate {
    std::string name;
    double real, cpu;  // bytes per second by wall-clock and by CPU time
  };
  std::vector<Rate> rates_;
};

// The body of main(): builds the matrix outside the timed loops, runs, prints the ratios.
inline int RunWithRatios(int argc, char** argv) {
  Block();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}

}  // namespace quantd::bench

#endif  // QUANTD_BENCH_THROUGHPUT_H_
