// The CUDA probe of a build without nvcc: no devices.
#include "cuda/cuda_probe.h"

namespace quantd::cuda {

const bool kBuiltWithCuda = false;
std::vector<CudaDeviceInfo> ProbeDevices() { return {}; }

}  // namespace quantd::cuda

#include "cuda/cuda_encoders.h"

namespace quantd::cuda {

EncodeFn FindEncoder(std::string_view) { return nullptr; }

}  // namespace quantd::cuda
