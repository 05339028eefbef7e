#include "quantd/core/device.h"

#include "core/cuda/cuda_probe.h"

namespace quantd {

std::string_view DeviceName(Device d) {
  switch (d) {
    case Device::kAuto:
      return "auto";
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "auto";
}

StatusOr<Device> ParseDevice(std::string_view name) {
  if (name == "auto") return Device::kAuto;
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return InvalidArgumentError("device '" + std::string(name) + "' is not one of auto, cpu, cuda");
}

bool BuiltWithCuda() { return cuda::kBuiltWithCuda; }

const std::vector<CudaDeviceInfo>& CudaDevices() {
  static const std::vector<CudaDeviceInfo> devices = cuda::ProbeDevices();
  return devices;
}

}  // namespace quantd

namespace quantd {

StatusOr<DevicePlan> PlanDevice(const DevicePolicy& policy, bool has_cuda_encoder, int64_t weights) {
  switch (policy.device) {
    case Device::kCpu:
      return DevicePlan{Device::kCpu, false};
    case Device::kCuda:
      if (!policy.gpu_allowed) {
        return FailedPreconditionError("device cuda requested from a server running with --device cpu");
      }
      if (CudaDevices().empty()) {
        return UnavailableError(
            std::string("device cuda requested but ") +
            (BuiltWithCuda() ? "no CUDA device is usable" : "this build has no CUDA support"));
      }
      if (!has_cuda_encoder) return UnimplementedError("the method has no CUDA encoder");
      return DevicePlan{Device::kCuda, false};
    case Device::kAuto:
      if (policy.gpu_allowed && has_cuda_encoder && weights >= kAutoCudaMinWeights &&
          !CudaDevices().empty()) {
        return DevicePlan{Device::kCuda, true};
      }
      return DevicePlan{Device::kCpu, false};
  }
  return DevicePlan{Device::kCpu, false};
}

bool FallsBackToCpu(StatusCode code) {
  return code == StatusCode::kResourceExhausted || code == StatusCode::kUnimplemented;
}

}  // namespace quantd
