// File: cuda_probe.h
//
// The one place the rest of the core learns whether CUDA is there. Built from cuda_probe.cu
// when nvcc is found, and from cuda_probe_none.cc otherwise.
#ifndef QUANTD_CORE_CUDA_CUDA_PROBE_H_
#define QUANTD_CORE_CUDA_CUDA_PROBE_H_

#include <vector>

#include "quantd/core/device.h"

namespace quantd::cuda {

extern const bool kBuiltWithCuda;
// Lists usable devices; never fails (no driver or no device gives an empty list).
std::vector<CudaDeviceInfo> ProbeDevices();

}  // namespace quantd::cuda

#endif  // QUANTD_CORE_CUDA_CUDA_PROBE_H_
