// File: device.h
//
// Where the core runs an encoder: on the CPU (always available) or on a CUDA GPU (when the core
// was built with nvcc and a device is present). `Device::kAuto` picks the GPU for blocks large
// enough to pay for the transfers, when the method has a CUDA encoder for its parameters.
// Encodings do not depend on the device wherever the arithmetic allows (each method documents
// where it does not); decoding and quality measurement always run on the CPU, so reported
// metrics are identical whatever the device.
#ifndef QUANTD_CORE_DEVICE_H_
#define QUANTD_CORE_DEVICE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "quantd/core/status.h"

namespace quantd {

enum class Device { kAuto, kCpu, kCuda };

std::string_view DeviceName(Device d);  // "auto", "cpu", "cuda"
StatusOr<Device> ParseDevice(std::string_view name);

// True when this build contains CUDA code.
bool BuiltWithCuda();

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  uint64_t memory_bytes = 0;
  int multiprocessors = 0;
};

// The CUDA devices this process can use (empty without CUDA support, a driver, or a GPU). The
// probe runs once; the result is cached.
const std::vector<CudaDeviceInfo>& CudaDevices();

// Blocks with at least this many weights go to the GPU under kAuto (smaller ones cost more in
// transfers and launches than they save).
inline constexpr int64_t kAutoCudaMinWeights = int64_t{1} << 18;

// Where a chunk may run: what the caller asks for (a request's device, quantctl's --device),
// within what this process allows (quantd --device cpu forbids the GPU).
struct DevicePolicy {
  Device device = Device::kAuto;  // what is asked for
  bool gpu_allowed = true;
};

// The decision for one chunk.
struct DevicePlan {
  Device device = Device::kCpu;  // kCpu or kCuda
  bool cpu_fallback = false;     // kCuda under kAuto: the CPU takes over on the codes below
};

// The one place that decides where a chunk runs, for the server and in-process runs alike:
// - kCpu, or the GPU not allowed with kAuto: the CPU;
// - kCuda: the GPU, or FAILED_PRECONDITION when this process forbids it, UNAVAILABLE without a
//   usable device, UNIMPLEMENTED when the method has no CUDA encoder;
// - kAuto: the GPU when there is one, the method has a CUDA encoder and the chunk has at least
//   kAutoCudaMinWeights weights (with CPU fallback); the CPU otherwise.
// `has_cuda_encoder`: the method's Method::cuda_encoder() is not null.
StatusOr<DevicePlan> PlanDevice(const DevicePolicy& policy, bool has_cuda_encoder, int64_t weights);

// Under a plan with cpu_fallback, whether a CUDA encoder's error hands the chunk to the CPU:
// only RESOURCE_EXHAUSTED (device out of memory) and UNIMPLEMENTED (parameters or shapes the
// CUDA encoder does not cover). Every other error, INTERNAL above all, is reported: a fallback
// would hide a GPU encoder bug.
bool FallsBackToCpu(StatusCode code);

}  // namespace quantd

#endif  // QUANTD_CORE_DEVICE_H_
