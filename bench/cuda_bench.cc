// The CUDA backend against all CPU cores of the same machine, in the same run.
//
// For each method with a CUDA encoder: on 4096x4096 and 16384x4096 F32 matrices, the kernels on
// device-resident data (time per matrix, and for memory-bound methods the fraction of the GPU's
// memory bandwidth, measured in the same run by a device-to-device copy), the whole
// EncodeRows call on the GPU (transfers included) and on every CPU core, and their ratio. Prints
// markdown. A plain program (no Google Benchmark) so that it builds with -DQUANTD_CORE_ONLY=ON.
//
//   build/bin/cuda_bench [--reps 20]
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "quantd/core/bitpack.h"
#include "quantd/core/device.h"
#include "quantd/core/parallel.h"
#include "quantd/core/quantize.h"
#include "rtn/rtn_cuda.h"
#include "synthetic.h"

namespace {

using namespace quantd;
using Clock = std::chrono::steady_clock;

#define CHECK_CUDA(x)                                                       \
  do {                                                                      \
    cudaError_t e_ = (x);                                                   \
    if (e_ != cudaSuccess) {                                                \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));         \
      std::exit(1);                                                         \
    }                                                                       \
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
  const std::vector<float> w = bench::HeavyTailedMatrix(rows, cols, 11);
  const std::vector<int64_t> shape = {rows, cols};
  RowBlock block{.tensor_name = "bench", .shape = shape, .rows = rows, .cols = cols, .data = w};
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
  for (int i = 0; i < reps; ++i) (void)rtn_cuda::LaunchEncode(dx, rows, cols, o, dout, dout + codes, nullptr, dflag, st);
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
              static_cast<long long>(rows), static_cast<long long>(cols), kernel_s * 1e3, moved / kernel_s / 1e9,
              moved / kernel_s / copy_bw, gpu_s * 1e3, cpu_s * 1e3, cpu_s / gpu_s);
  (void)weights;
  cudaFree(dx);
  cudaFree(dout);
  cudaFree(dflag);
  cudaStreamDestroy(st);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--reps") reps = std::stoi(argv[i + 1]);
  }
  const auto& devices = CudaDevices();
  if (devices.empty()) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  const double copy_bw = CopyBandwidth(size_t{1} << 30, 10);
  std::printf("GPU %s (%d SMs, %.0f GiB); device-to-device copy %.0f GB/s (read + write); CPU threads %d\n\n",
              devices[0].name.c_str(), devices[0].multiprocessors, devices[0].memory_bytes / 1073741824.0, copy_bw / 1e9,
              MaxConcurrency());
  std::printf("| method | matrix | kernel time | kernel bytes/s | fraction of copy bandwidth | GPU end to end | CPU all cores | CPU / GPU |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (int64_t rows : {4096, 16384}) {
    for (int bits : {4, 8}) BenchRtn(rows, 4096, bits, copy_bw, reps);
  }
  return 0;
}
