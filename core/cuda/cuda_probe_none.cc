// The CUDA probe of a build without nvcc: no devices.
#include "core/cuda/cuda_probe.h"

namespace quantd::cuda {

const bool kBuiltWithCuda = false;
std::vector<CudaDeviceInfo> ProbeDevices() { return {}; }

}  // namespace quantd::cuda
