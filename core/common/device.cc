#include "quantd/core/device.h"

#include "cuda/cuda_probe.h"

namespace quantd {

std::string_view DeviceName(Device d) {
  switch (d) {
    case Device::kAuto: return "auto";
    case Device::kCpu: return "cpu";
    case Device::kCuda: return "cuda";
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
