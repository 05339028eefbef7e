// The CUDA backend against all CPU cores of the same machine, in the same run.
//
// For each method with a CUDA encoder: on 4096x4096 and 16384x4096 F32 matrices, the kernels on
// device-resident data (time per matrix, and for memory-bound methods the fraction of the GPU's
// memory bandwidth, measured in the same run by a device-to-device copy), the whole
// EncodeRows call on the GPU (transfers included) and on every CPU core, and their ratio. PVQ,
// compute-bound, gets its own table: the time of each kernel stage, what the rest of the call
// costs (host staging, transfers, storing scales and codes), and, for the choice of where gain
// fit, enumeration and packing run, what they cost on every CPU core instead. Kashin gets the
// stages of its call (device greedy, host codebook fit, device assignment). Prints markdown.
// A plain program (no Google Benchmark) so that it builds with -DQUANTD_CORE_ONLY=ON.
//
//   build/bin/cuda_bench [--reps 20] [--only rtn|crossquant|pvq|kashin]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/common/bitpack.h"
#include "core/common/parallel.h"
#include "core/crossquant/crossquant_cuda.h"
#include "core/kashin/kashin.h"
#include "core/kashin/kashin_cuda.h"
#include "core/pvq/pvq.h"
#include "core/pvq/pvq_cuda.h"
#include "core/rtn/rtn_cuda.h"
#include "quantd/core/device.h"
#include "quantd/core/quantize.h"
#include "tests/testing/random_tensors.h"

namespace {

using namespace quantd;
using Clock = std::chrono::steady_clock;

#define CHECK_CUDA(x)                                               \
  do {                                                              \
    cudaError_t e_ = (x);                                           \
    if (e_ != cudaSuccess) {                                        \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                 \
    }                                                               \
  } while (0)

// Device-to-device copy bandwidth (bytes read + written per second): the yardstick.
double CopyBandwidth(size_t bytes, int reps) {
  void *a, *b;
  CHECK_CUDA(cudaMalloc(&a, bytes));
  CHECK_CUDA(cudaMalloc(&b, bytes));
  CHECK_CUDA(cudaMemset(a, 1, bytes));
  cudaEvent_t s, e;
  cudaEventCreate(&s);
  cudaEventCreate(&e);
  CHECK_CUDA(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  cudaEventRecord(s);
  for (int i = 0; i < reps; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e);
  cudaEventSynchronize(e);
  float ms;
  cudaEventElapsedTime(&ms, s, e);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes * reps / (ms / 1e3);
}

double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

void BenchRtn(int64_t rows, int64_t cols, int bits, double copy_bw, int reps) {
  const std::vector<float> w = testing::HeavyTailedMatrix(rows, cols, 11);
  const std::vector<int64_t> shape = {rows, cols};
  Chunk block{.tensor_name = "bench", .shape = shape, .rows = rows, .cols = cols, .data = w};
  const Params p{{"bits", std::to_string(bits)}};
  RtnOptions o;
  o.bits = bits;
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(cols, bits));
  const int64_t groups = o.groups_per_row(cols);
  float* dx;
  uint8_t* dout;
  int* dflag;
  const size_t codes = static_cast<size_t>(rows * row_bytes), scales = static_cast<size_t>(rows * groups * 2);
  CHECK_CUDA(cudaMalloc(&dx, w.size() * 4));
  CHECK_CUDA(cudaMalloc(&dout, codes + scales));
  CHECK_CUDA(cudaMalloc(&dflag, sizeof(int)));
  CHECK_CUDA(cudaMemcpy(dx, w.data(), w.size() * 4, cudaMemcpyHostToDevice));
  cudaStream_t st;
  cudaStreamCreate(&st);
  cudaEvent_t s, e;
  cudaEventCreate(&s);
  cudaEventCreate(&e);
  (void)rtn_cuda::LaunchEncode(dx, rows, cols, o, dout, dout + codes, nullptr, dflag, st);
  cudaEventRecord(s, st);
  for (int i = 0; i < reps; ++i)
    (void)rtn_cuda::LaunchEncode(dx, rows, cols, o, dout, dout + codes, nullptr, dflag, st);
  cudaEventRecord(e, st);
  CHECK_CUDA(cudaEventSynchronize(e));
  float ms;
  cudaEventElapsedTime(&ms, s, e);
  const double kernel_s = ms / 1e3 / reps;
  const double moved = static_cast<double>(w.size() * 4 + codes + scales);
  // End to end, transfers included, against every CPU core.
  (void)EncodeRows(block, "rtn", p, {.device = Device::kCuda});
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) (void)EncodeRows(block, "rtn", p, {.device = Device::kCuda});
  const double gpu_s = Seconds(t0) / 3;
  t0 = Clock::now();
  for (int i = 0; i < 3; ++i) (void)EncodeRows(block, "rtn", p, {.device = Device::kCpu});
  const double cpu_s = Seconds(t0) / 3;
  const double weights = static_cast<double>(rows * cols);
  std::printf("| rtn %d-bit | %lldx%lld | %.3f ms | %.0f GB/s | %.2f | %.2f ms | %.2f ms | %.1fx |\n", bits,
              static_cast<long long>(rows), static_cast<long long>(cols), kernel_s * 1e3,
              moved / kernel_s / 1e9, moved / kernel_s / copy_bw, gpu_s * 1e3, cpu_s * 1e3, cpu_s / gpu_s);
  (void)weights;
  cudaFree(dx);
  cudaFree(dout);
  cudaFree(dflag);
  cudaStreamDestroy(st);
}

void BenchCrossQuant(int64_t rows, int64_t cols, int bits, double copy_bw, int reps) {
  const std::vector<float> w = testing::HeavyTailedMatrix(rows, cols, 12);
  const std::vector<int64_t> shape = {rows, cols};
  Chunk block{.tensor_name = "bench", .shape = shape, .rows = rows, .cols = cols, .data = w};
  const Params p{{"bits", std::to_string(bits)}};
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(cols, bits));
  float *dx, *df, *dtc;
  uint8_t *dbytes, *dcodes;
  void* dcounts;
  CHECK_CUDA(cudaMalloc(&dx, w.size() * 4));
  CHECK_CUDA(cudaMalloc(&df, (2 * rows + cols) * 8));
  CHECK_CUDA(cudaMalloc(&dtc, (rows + cols) * 4));
  CHECK_CUDA(cudaMalloc(&dbytes, w.size()));
  CHECK_CUDA(cudaMalloc(&dcodes, rows * row_bytes));
  CHECK_CUDA(cudaMalloc(&dcounts, 64));
  CHECK_CUDA(cudaMemcpy(dx, w.data(), w.size() * 4, cudaMemcpyHostToDevice));
  std::vector<float> f(2 * rows + cols, 0.01f);
  f.resize(2 * (2 * rows + cols), 100.0f);  // the factors, then their inverses
  CHECK_CUDA(cudaMemcpy(df, f.data(), f.size() * 4, cudaMemcpyHostToDevice));
  cudaStream_t st;
  cudaStreamCreate(&st);
  cudaEvent_t s, e;
  cudaEventCreate(&s);
  cudaEventCreate(&e);
  auto launch = [&] {
    (void)crossquant_cuda::LaunchDevicePasses(dx, rows, cols, bits, df, df + rows, df + rows + cols,
                                              df + 2 * rows + cols, dtc, dbytes, dcodes, dcounts, st);
  };
  launch();
  cudaEventRecord(s, st);
  for (int i = 0; i < reps; ++i) launch();
  cudaEventRecord(e, st);
  CHECK_CUDA(cudaEventSynchronize(e));
  float ms;
  cudaEventElapsedTime(&ms, s, e);
  const double kernel_s = ms / 1e3 / reps;
  // What the kernels must move: the maxima pass and the quantizing pass each read the input (it
  // does not fit in L2), the codes are written once.
  const double moved = static_cast<double>(2 * w.size() * 4 + rows * row_bytes);
  (void)EncodeRows(block, "crossquant", p, {.device = Device::kCuda});
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) (void)EncodeRows(block, "crossquant", p, {.device = Device::kCuda});
  const double gpu_s = Seconds(t0) / 3;
  t0 = Clock::now();
  for (int i = 0; i < 3; ++i) (void)EncodeRows(block, "crossquant", p, {.device = Device::kCpu});
  const double cpu_s = Seconds(t0) / 3;
  std::printf("| crossquant %d-bit | %lldx%lld | %.3f ms | %.0f GB/s | %.2f | %.2f ms | %.2f ms | %.1fx |\n",
              bits, static_cast<long long>(rows), static_cast<long long>(cols), kernel_s * 1e3,
              moved / kernel_s / 1e9, moved / kernel_s / copy_bw, gpu_s * 1e3, cpu_s * 1e3, cpu_s / gpu_s);
  for (void* ptr : {static_cast<void*>(dx), static_cast<void*>(df), static_cast<void*>(dtc),
                    static_cast<void*>(dbytes), static_cast<void*>(dcodes), dcounts}) {
    cudaFree(ptr);
  }
  cudaStreamDestroy(st);
}

// Gain fit, enumeration and packing of every row on all CPU cores: what the host would do if the
// GPU returned the points and fitted gains instead (the search itself is not timed; its points
// come from the greedy search, which changes nothing of the cost of what follows; nor is the
// download of the points, 1 to 4 bytes per weight, which that split would add).
double HostFitAndPackSeconds(const std::vector<float>& w, int64_t rows, int64_t cols,
                             const Params& resolved) {
  const PvqOptions o = *PvqOptions::FromParams(resolved);
  PvqOptions greedy = o;
  greedy.search = pvq_internal::SearchMode::kGreedy;
  const pvq_internal::RowCodec c = *pvq_internal::MakeRowCodec(greedy, cols);
  const int64_t groups = c.layout.groups();
  std::vector<int32_t> p(w.size());
  std::vector<double> fitted(static_cast<size_t>(rows * groups));
  ParallelFor(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      pvq_internal::SearchRow(w.data() + r * cols, c, p.data() + r * cols, fitted.data() + r * groups);
    }
  });
  std::vector<uint8_t> codes(static_cast<size_t>(rows * groups));
  std::vector<uint8_t> streams(static_cast<size_t>(rows * c.layout.row_bytes));
  std::vector<float> scales(static_cast<size_t>(rows));
  const std::span<const float> levels =
      c.levels ? std::span<const float>(*c.levels) : std::span<const float>();
  const std::span<const float> tail =
      c.tail_levels ? std::span<const float>(*c.tail_levels) : std::span<const float>();
  auto run = [&] {
    ParallelFor(0, rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        uint8_t* rc = codes.data() + r * groups;
        const std::span<const double> row_fitted(fitted.data() + r * groups, static_cast<size_t>(groups));
        scales[r] = pvq_internal::FitRowGains(row_fitted, levels, tail, c.scale_dtype,
                                              std::span<uint8_t>(rc, static_cast<size_t>(groups)));
        uint8_t* out = streams.data() + r * c.layout.row_bytes;
        std::memset(out, 0, static_cast<size_t>(c.layout.row_bytes));
        pvq_internal::PackRowFast(p.data() + r * cols, rc, c, out);
      }
    });
  };
  run();
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) run();
  return Seconds(t0) / 3;
}

void BenchPvq(int64_t rows, int64_t cols, const char* bits, const char* search, int reps) {
  const std::vector<float> w = testing::HeavyTailedMatrix(rows, cols, 13);
  const std::vector<int64_t> shape = {rows, cols};
  Chunk block{.tensor_name = "bench", .shape = shape, .rows = rows, .cols = cols, .data = w};
  const Params p{{"bits", bits}, {"group_size", "32"}, {"search", search}};
  const Params resolved = *PvqMethod().Resolve(p, cols);
  auto stages = pvq_cuda::TimeStages(block, resolved, reps);
  if (!stages.ok()) {
    std::printf("| pvq %s %s | %lldx%lld | %s |\n", bits, search, static_cast<long long>(rows),
                static_cast<long long>(cols), stages.status().ToString().c_str());
    return;
  }
  auto first = EncodeRows(block, "pvq", p, {.device = Device::kCuda});
  if (!first.ok()) {
    std::printf("| pvq %s %s | %lldx%lld | %s |\n", bits, search, static_cast<long long>(rows),
                static_cast<long long>(cols), first.status().ToString().c_str());
    return;
  }
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) (void)EncodeRows(block, "pvq", p, {.device = Device::kCuda});
  const double gpu_s = Seconds(t0) / 3;
  t0 = Clock::now();
  auto cpu = EncodeRows(block, "pvq", p, {.device = Device::kCpu});
  const double cpu_s = Seconds(t0);
  const bool same = cpu.ok() && *cpu == *first;
  const double kernels_ms = stages->rotate_ms + stages->search_ms + stages->fit_ms + stages->pack_ms;
  const double host_fit_pack_s = HostFitAndPackSeconds(w, rows, cols, resolved);
  const double weights = static_cast<double>(rows * cols);
  std::printf(
      "| pvq %s %s | %lldx%lld | %s | %.1f ms (%.0f M/s) | %.0f ms (%.1f M/s) | %.1fx | %s "
      "| %.2f / %.1f / %.2f / %.2f ms | %.1f ms | %.1f ms |\n",
      bits, search, static_cast<long long>(rows), static_cast<long long>(cols),
      resolved.GetString("k", "?").c_str(), gpu_s * 1e3, weights / gpu_s / 1e6, cpu_s * 1e3,
      weights / cpu_s / 1e6, cpu_s / gpu_s, same ? "yes" : "NO", stages->rotate_ms, stages->search_ms,
      stages->fit_ms, stages->pack_ms, gpu_s * 1e3 - kernels_ms, host_fit_pack_s * 1e3);
}

// Kashin, rows mode (defaults: Hadamard, step_choice=slice, 4 bits unless given): the GPU call
// split into its stages (kashin_cuda.h's StageTimes), against the CPU encoder on every core.
void BenchKashin(int64_t rows, int64_t cols, const char* bits) {
  const std::vector<float> w = testing::HeavyTailedMatrix(rows, cols, 17);
  const std::vector<int64_t> shape = {rows, cols};
  Chunk block{.tensor_name = "bench", .shape = shape, .rows = rows, .cols = cols, .data = w};
  const Params p{{"bits", bits}};
  const Params resolved = *KashinMethod().Resolve(p, cols);
  auto first = EncodeRows(block, "kashin", p, {.device = Device::kCuda});  // warms up
  if (!first.ok()) {
    std::printf("| kashin %s | %lldx%lld | %s |\n", bits, static_cast<long long>(rows),
                static_cast<long long>(cols), first.status().ToString().c_str());
    return;
  }
  kashin_cuda::StageTimes st;
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) {
    kashin_cuda::StageTimes one;
    (void)kashin_cuda::EncodeTimed(block, resolved, &one);
    st.prepare_ms += one.prepare_ms / 3;
    st.upload_ms += one.upload_ms / 3;
    st.greedy_ms += one.greedy_ms / 3;
    st.fit_ms += one.fit_ms / 3;
    st.assign_ms += one.assign_ms / 3;
    st.download_ms += one.download_ms / 3;
  }
  const double gpu_s = Seconds(t0) / 3;
  t0 = Clock::now();
  auto cpu = EncodeRows(block, "kashin", p, {.device = Device::kCpu});
  const double cpu_s = Seconds(t0);
  const bool same = cpu.ok() && *cpu == *first;
  const double weights = static_cast<double>(rows * cols);
  std::printf(
      "| kashin %s | %lldx%lld | %.1f ms (%.0f M/s) | %.0f ms (%.1f M/s) | %.1fx | %s "
      "| %.1f / %.1f / %.1f / %.1f / %.1f / %.1f ms | %.1f |\n",
      bits, static_cast<long long>(rows), static_cast<long long>(cols), gpu_s * 1e3, weights / gpu_s / 1e6,
      cpu_s * 1e3, weights / cpu_s / 1e6, cpu_s / gpu_s, same ? "yes" : "NO", st.prepare_ms, st.upload_ms,
      st.greedy_ms, st.fit_ms, st.assign_ms, st.download_ms,
      first->stats.count("iterations_sum") ? first->stats.at("iterations_sum") / first->stats.at("vectors")
                                           : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20;
  std::string only;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--reps") reps = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
  }
  const auto& devices = CudaDevices();
  if (devices.empty()) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  const double copy_bw = CopyBandwidth(size_t{1} << 30, 10);
  std::printf("GPU %s (%d SMs, %.0f GiB); device-to-device copy %.0f GB/s (read + write); CPU threads %d\n\n",
              devices[0].name.c_str(), devices[0].multiprocessors, devices[0].memory_bytes / 1073741824.0,
              copy_bw / 1e9, MaxConcurrency());
  if (only.empty() || only == "rtn" || only == "crossquant") {
    std::printf(
        "| method | matrix | kernel time | kernel bytes/s | fraction of copy bandwidth | GPU end to end "
        "| CPU all cores | CPU / GPU |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
  }
  if (only.empty() || only == "rtn") {
    for (int64_t rows : {4096, 16384}) {
      for (int bits : {4, 8}) BenchRtn(rows, 4096, bits, copy_bw, reps);
    }
  }
  if (only.empty() || only == "crossquant") {
    for (int64_t rows : {4096, 16384}) {
      for (int bits : {4, 8}) BenchCrossQuant(rows, 4096, bits, copy_bw, reps);
    }
  }
  if (only.empty() || only == "pvq") {
    // Compute-bound: times per stage, not bandwidth. "rest of the call" is the GPU end-to-end time
    // minus the kernels: host staging, transfers, launches, storing scales and copying codes.
    std::printf(
        "\n| pvq (D = 32) | matrix | K | GPU end to end | CPU all cores | CPU / GPU | same bytes "
        "| kernels: rotate / search / fit / pack | rest of the call "
        "| fit + pack on all CPU cores instead |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int64_t rows : {4096, 16384}) {
      for (const char* bits : {"3.25", "4.125"}) {
        for (const char* search : {"exact", "greedy"}) {
          BenchPvq(rows, 4096, bits, search, std::max(1, reps / 4));
        }
      }
    }
  }
  if (only.empty() || only == "kashin") {
    // Stages of the GPU call: host normalisation / staging and upload / greedy kernels / sample
    // back and codebook fit on the host / assignment, sums and packing kernels with the codes'
    // download / sections.
    std::printf(
        "\n| kashin (rows, hadamard) | matrix | GPU end to end | CPU all cores | CPU / GPU | same bytes "
        "| prepare / upload / greedy / fit / assign / sections | greedy steps per vector |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (int64_t rows : {4096, 16384}) {
      for (const char* bits : {"2", "4"}) BenchKashin(rows, 4096, bits);
    }
  }
  return 0;
}
