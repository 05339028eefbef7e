// The device policy (device.h): where a chunk runs, decided in one place, and the only errors on
// which a GPU encode hands a chunk to the CPU.
#include "quantd/core/device.h"

#include <gtest/gtest.h>

#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

TEST(DeviceTest, CpuIsAlwaysTheCpu) {
  for (bool allowed : {true, false}) {
    auto p = PlanDevice({.device = Device::kCpu, .gpu_allowed = allowed}, true, int64_t{1} << 30);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->device, Device::kCpu);
    EXPECT_FALSE(p->cpu_fallback);
  }
}

TEST(DeviceTest, CudaIsRefusedWhereTheGpuIsForbiddenOrMissing) {
  EXPECT_THAT(PlanDevice({.device = Device::kCuda, .gpu_allowed = false}, true, 1 << 20),
              StatusIs(StatusCode::kFailedPrecondition, "--device cpu"));
  if (CudaDevices().empty()) {
    EXPECT_THAT(PlanDevice({.device = Device::kCuda}, true, 1 << 20),
                StatusIs(StatusCode::kUnavailable, "device cuda"));
  } else {
    EXPECT_THAT(PlanDevice({.device = Device::kCuda}, false, 1 << 20),
                StatusIs(StatusCode::kUnimplemented, "no CUDA encoder"));
    auto p = PlanDevice({.device = Device::kCuda}, true, 1);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->device, Device::kCuda);
    EXPECT_FALSE(p->cpu_fallback);  // asked for the GPU: its errors are reported
  }
}

TEST(DeviceTest, AutoPicksTheGpuOnlyWhenItPays) {
  const bool gpu = !CudaDevices().empty();
  auto big = PlanDevice({.device = Device::kAuto}, true, kAutoCudaMinWeights);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->device, gpu ? Device::kCuda : Device::kCpu);
  EXPECT_EQ(big->cpu_fallback, gpu);
  for (auto [allowed, encoder, weights] :
       {std::tuple{true, true, kAutoCudaMinWeights - 1}, std::tuple{false, true, kAutoCudaMinWeights},
        std::tuple{true, false, kAutoCudaMinWeights}}) {
    auto p = PlanDevice({.device = Device::kAuto, .gpu_allowed = allowed}, encoder, weights);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->device, Device::kCpu);
  }
}

// Only device out-of-memory and "not covered" fall back; an internal error is a GPU encoder bug
// that a fallback would hide.
TEST(DeviceTest, FallbackOnlyOnDocumentedCodes) {
  EXPECT_TRUE(FallsBackToCpu(StatusCode::kResourceExhausted));
  EXPECT_TRUE(FallsBackToCpu(StatusCode::kUnimplemented));
  for (StatusCode c : {StatusCode::kInternal, StatusCode::kUnknown, StatusCode::kUnavailable,
                       StatusCode::kInvalidArgument, StatusCode::kDataLoss}) {
    EXPECT_FALSE(FallsBackToCpu(c)) << StatusCodeName(c);
  }
}

TEST(DeviceTest, NamesParse) {
  for (Device d : {Device::kAuto, Device::kCpu, Device::kCuda}) EXPECT_EQ(*ParseDevice(DeviceName(d)), d);
  EXPECT_THAT(ParseDevice("gpu"), StatusIs(StatusCode::kInvalidArgument, "not one of auto, cpu, cuda"));
}

}  // namespace
}  // namespace quantd
