// File: cuda_util.h
//
// Helpers for the core's CUDA code (included only by .cu files): cudaError_t to Status, and the
// per-thread CUDA resources every encoder uses. Each calling thread (a TBB worker) gets its own
// stream and its own device and pinned host buffers, grown on demand and reused, so concurrent
// chunks overlap their transfers and kernels and no call allocates in the steady state.
#ifndef QUANTD_CORE_CUDA_CUDA_UTIL_H_
#define QUANTD_CORE_CUDA_CUDA_UTIL_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "quantd/core/status.h"

namespace quantd::cuda {

// OK, RESOURCE_EXHAUSTED (out of device or pinned memory), UNAVAILABLE (no usable device or
// driver), or INTERNAL, with `what` and CUDA's own message.
Status ToStatus(cudaError_t e, const char* what);

#define QUANTD_CUDA_RETURN_IF_ERROR(expr, what)                                               \
  do {                                                                                        \
    cudaError_t quantd_cuda_e_ = (expr);                                                      \
    if (quantd_cuda_e_ != cudaSuccess) return ::quantd::cuda::ToStatus(quantd_cuda_e_, what); \
  } while (0)

// memcpy on the pool's threads: staging a large block into pinned memory is bandwidth-bound, and
// one core alone cannot saturate memory.
void ParallelCopy(void* dst, const void* src, size_t bytes);

// Tests: device allocations above `bytes` fail as if the GPU were out of memory (0: no limit).
void SetDeviceAllocationLimitForTesting(size_t bytes);

// Events destroyed with the scope; and a stream drained before an early return, so that no copy
// still queued reads or writes a pinned buffer the next call reuses.
class Events {
 public:
  Events() = default;
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  ~Events();
  StatusOr<cudaEvent_t> Make(unsigned flags);
  void DrainOnExit(cudaStream_t st) { drain_ = st; }
  void Done() { drain_ = nullptr; }

 private:
  std::vector<cudaEvent_t> events_;
  cudaStream_t drain_ = nullptr;
};

// One thread's CUDA resources. Buffers only grow.
class ThreadResources {
 public:
  // The calling thread's resources on device 0, created on first use.
  static StatusOr<ThreadResources*> Get();

  cudaStream_t stream() const { return stream_; }
  // Device buffer `slot` (0..kSlots-1) of at least `bytes`.
  StatusOr<void*> Device(int slot, size_t bytes);
  // Pinned host buffer `slot` of at least `bytes`.
  StatusOr<void*> Host(int slot, size_t bytes);
  // Waits for the stream; reports kernel and copy errors.
  Status Sync(const char* what);

  static constexpr int kSlots = 6;

 private:
  ThreadResources() = default;
  cudaStream_t stream_ = nullptr;
  void* device_[kSlots] = {};
  size_t device_size_[kSlots] = {};
  void* host_[kSlots] = {};
  size_t host_size_[kSlots] = {};
};

}  // namespace quantd::cuda

#endif  // QUANTD_CORE_CUDA_CUDA_UTIL_H_
