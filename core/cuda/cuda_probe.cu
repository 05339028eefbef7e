// The CUDA probe: asks the runtime for devices once. A missing driver or GPU is not an error.
#include <cuda_runtime.h>

#include "core/cuda/cuda_probe.h"

namespace quantd::cuda {

const bool kBuiltWithCuda = true;

std::vector<CudaDeviceInfo> ProbeDevices() {
  std::vector<CudaDeviceInfo> out;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return out;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    out.push_back({i, p.name, static_cast<uint64_t>(p.totalGlobalMem), p.multiProcessorCount});
  }
  return out;
}

}  // namespace quantd::cuda
