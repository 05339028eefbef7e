#include <atomic>
#include <cstring>
#include <memory>

#include "core/common/parallel.h"
#include "core/cuda/cuda_util.h"

namespace quantd::cuda {

Status ToStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return OkStatus();
  cudaGetLastError();  // clear non-sticky errors so the thread can go on
  std::string m = std::string(what) + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
  if (e == cudaErrorMemoryAllocation) return ResourceExhaustedError(m);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorDevicesUnavailable ||
      e == cudaErrorInitializationError) {
    return UnavailableError(m);
  }
  return InternalError(m);
}

void ParallelCopy(void* dst, const void* src, size_t bytes) {
  constexpr int64_t kBlock = 4 << 20;
  const int64_t blocks = static_cast<int64_t>((bytes + kBlock - 1) / kBlock);
  ParallelFor(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const size_t off = static_cast<size_t>(b) * kBlock;
      memcpy(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off,
             std::min<size_t>(kBlock, bytes - off));
    }
  });
}

Events::~Events() {
  if (drain_) cudaStreamSynchronize(drain_);
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

StatusOr<cudaEvent_t> Events::Make(unsigned flags) {
  cudaEvent_t e;
  QUANTD_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, flags), "cudaEventCreate");
  events_.push_back(e);
  return e;
}

StatusOr<ThreadResources*> ThreadResources::Get() {
  // Freed at thread exit. Streams and buffers of a thread that exits while the context is being
  // torn down are released by the driver with the context.
  struct Holder {
    std::unique_ptr<ThreadResources> r;
    ~Holder() {
      if (!r) return;
      for (int i = 0; i < kSlots; ++i) {
        if (r->device_[i]) cudaFree(r->device_[i]);
        if (r->host_[i]) cudaFreeHost(r->host_[i]);
      }
      if (r->stream_) cudaStreamDestroy(r->stream_);
    }
  };
  thread_local Holder holder;
  if (!holder.r) {
    QUANTD_CUDA_RETURN_IF_ERROR(cudaSetDevice(0), "cudaSetDevice");
    auto r = std::unique_ptr<ThreadResources>(new ThreadResources());
    QUANTD_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&r->stream_, cudaStreamNonBlocking),
                                "cudaStreamCreate");
    holder.r = std::move(r);
  }
  return holder.r.get();
}

namespace {
std::atomic<size_t> g_allocation_limit{0};
}  // namespace

void SetDeviceAllocationLimitForTesting(size_t bytes) { g_allocation_limit = bytes; }

StatusOr<void*> ThreadResources::Device(int slot, size_t bytes) {
  const size_t limit = g_allocation_limit.load();
  if (limit != 0 && bytes > limit) return ToStatus(cudaErrorMemoryAllocation, "cudaMalloc (test limit)");
  if (device_size_[slot] < bytes) {
    if (device_[slot]) cudaFree(device_[slot]);
    device_[slot] = nullptr;
    device_size_[slot] = 0;
    QUANTD_CUDA_RETURN_IF_ERROR(cudaMalloc(&device_[slot], bytes), "cudaMalloc");
    device_size_[slot] = bytes;
  }
  return device_[slot];
}

StatusOr<void*> ThreadResources::Host(int slot, size_t bytes) {
  if (host_size_[slot] < bytes) {
    if (host_[slot]) cudaFreeHost(host_[slot]);
    host_[slot] = nullptr;
    host_size_[slot] = 0;
    QUANTD_CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_[slot], bytes), "cudaMallocHost");
    host_size_[slot] = bytes;
  }
  return host_[slot];
}

Status ThreadResources::Sync(const char* what) {
  QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), what);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), what);
  return OkStatus();
}

}  // namespace quantd::cuda
