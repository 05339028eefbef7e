#include <cuda_runtime.h>

#include <cstring>

#include "core/common/bitpack.h"
#include "core/cuda/cuda_util.h"
#include "core/cuda/pack_kernels.cuh"
#include "core/rtn/rtn_cuda.h"

namespace quantd::rtn_cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;

// Finds the group's element of largest magnitude (lowest index on ties) and returns its value;
// every lane of the warp gets it.
__device__ float GroupExtreme(const float* xg, int64_t n, int lane) {
  float best = -1.0f;
  int64_t where = INT64_MAX;
  for (int64_t i = lane; i < n; i += kWarp) {
    const float a = fabsf(xg[i]);
    if (a > best) {  // strictly greater: the first index within a lane wins
      best = a;
      where = i;
    }
  }
  for (int off = kWarp / 2; off > 0; off >>= 1) {
    const float ob = __shfl_down_sync(0xffffffffu, best, off);
    const int64_t ow = __shfl_down_sync(0xffffffffu, where, off);
    if (ob > best || (ob == best && ow < where)) {
      best = ob;
      where = ow;
    }
  }
  where = __shfl_sync(0xffffffffu, where, 0);
  // An all-zero group gives +0 whatever the signs of its zeros, as the reference (which replaces
  // its starting +0 only by a strictly larger magnitude): the scale is then -0.
  const float m = xg[where];
  return m == 0.0f ? 0.0f : m;
}

// The group's scale as stored (rounded to F16 when asked); lane 0 writes it.
__device__ float GroupScale(float m, int half, bool f16, uint8_t* scale_out, int lane, int* flag) {
  float d = m / static_cast<float>(-half);
  if (f16) {
    const uint16_t h = FloatToF16(d);
    d = F16ToFloat(h);
    if (lane == 0) memcpy(scale_out, &h, 2);
  } else if (lane == 0) {
    memcpy(scale_out, &d, 4);
  }
  if (lane == 0 && !isfinite(d)) atomicOr(flag, 1);
  return d;
}

__device__ uint32_t Code(float x, float d, int half) {
  if (d == 0.0f) return static_cast<uint32_t>(half);
  float v = rintf(x / d);  // IEEE division, round half to even: the CPU's arithmetic
  v = fminf(static_cast<float>(half - 1), fmaxf(static_cast<float>(-half), v));
  return static_cast<uint32_t>(static_cast<int>(v) + half);
}

// The group a warp of the warp-per-group kernels handles, its extreme and stored scale.
struct WarpGroup {
  bool active;
  int64_t r, g0, n;
  const float* xg;
  float d;  // the scale as stored
};

__device__ WarpGroup SetUpGroup(const float* x, int64_t rows, int64_t cols, int64_t group,
                                int64_t groups_per_row, int half, bool f16, uint8_t* scales, int* flag) {
  WarpGroup w{};
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  w.active = warp < rows * groups_per_row;
  if (!w.active) return w;
  w.r = warp / groups_per_row;
  const int64_t g = warp % groups_per_row;
  w.g0 = g * group;
  w.n = min(group, cols - w.g0);
  w.xg = x + w.r * cols + w.g0;
  const float m = GroupExtreme(w.xg, w.n, lane);
  w.d = GroupScale(m, half, f16, scales + (w.r * groups_per_row + g) * (f16 ? 2 : 4), lane, flag);
  return w;
}

// group_size % 8 == 0: lane l packs weights [8l, 8l+8) (+256 per pass) into `bits` bytes.
__global__ void EncodeFused(const float* x, int64_t rows, int64_t cols, int64_t group, int64_t groups_per_row,
                            int bits, bool f16, uint8_t* codes, int64_t row_bytes, uint8_t* scales,
                            int* flag) {
  const int lane = threadIdx.x % kWarp;
  const int half = 1 << (bits - 1);
  const WarpGroup w = SetUpGroup(x, rows, cols, group, groups_per_row, half, f16, scales, flag);
  if (!w.active) return;
  const int64_t r = w.r, g0 = w.g0, n = w.n;
  const float* xg = w.xg;
  const float d = w.d;
  uint8_t* row_out = codes + r * row_bytes;
  for (int64_t b0 = 8 * lane; b0 < n; b0 += 8 * kWarp) {
    uint64_t acc = 0;
    for (int j = 0; j < 8; ++j) {
      const int64_t i = b0 + j;
      const uint64_t c = i < n ? Code(xg[i], d, half) : 0;  // past the row's end: zero padding
      acc |= c << (j * bits);
    }
    const int64_t byte0 = (g0 + b0) * bits / 8;
    const int64_t nbytes = min(static_cast<int64_t>(bits), row_bytes - byte0);
    for (int64_t k = 0; k < nbytes; ++k) row_out[byte0 + k] = static_cast<uint8_t>(acc >> (8 * k));
  }
}

// The common case, group_size in {8, 16, ..., 256} dividing the row (and rows of a multiple of 8
// weights): each lane loads its 8 weights as two float4, the group's LPG = group/8 lanes find
// the extreme with a segmented shuffle, and each lane stores its `bits` packed bytes in one or
// a few wide stores. A warp handles 32/LPG groups at once.
template <int LPG>
__global__ void EncodeVector(const float* __restrict__ x, int64_t rows, int64_t cols, int64_t groups_per_row,
                             int bits, bool f16, uint8_t* __restrict__ codes, int64_t row_bytes,
                             uint8_t* __restrict__ scales, int* flag) {
  constexpr int kGroupsPerWarp = kWarp / LPG;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int64_t gidx = warp * kGroupsPerWarp + lane / LPG;
  const int sub = lane % LPG;
  const bool active = gidx < rows * groups_per_row;
  const int64_t r = active ? gidx / groups_per_row : 0;
  const int64_t g = active ? gidx % groups_per_row : 0;
  const int64_t first = g * (8 * LPG) + 8 * sub;  // this lane's first weight within the row
  float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float best = -1.0f;
  int where = INT32_MAX;  // index within the group
  if (active) {
    const float4* p = reinterpret_cast<const float4*>(x + r * cols + first);
    const float4 a = __ldcs(p), b = __ldcs(p + 1);
    v[0] = a.x;
    v[1] = a.y;
    v[2] = a.z;
    v[3] = a.w;
    v[4] = b.x;
    v[5] = b.y;
    v[6] = b.z;
    v[7] = b.w;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float m = fabsf(v[j]);
      if (m > best) {
        best = m;
        where = 8 * sub + j;
      }
    }
  }
#pragma unroll
  for (int off = LPG / 2; off > 0; off >>= 1) {  // xor offsets below LPG stay inside the group's lanes
    const float ob = __shfl_xor_sync(0xffffffffu, best, off);
    const int ow = __shfl_xor_sync(0xffffffffu, where, off);
    if (ob > best || (ob == best && ow < where)) {
      best = ob;
      where = ow;
    }
  }
  float mine = v[0];
#pragma unroll
  for (int j = 1; j < 8; ++j) mine = (j == (where & 7)) ? v[j] : mine;  // no dynamic register indexing
  const int owner = (lane / LPG) * LPG + (where >> 3);
  const float extreme = __shfl_sync(0xffffffffu, mine, owner & 31);
  const float m = extreme == 0.0f ? 0.0f : extreme;  // +0 for an all-zero group (GroupExtreme)
  if (!active) return;
  const int half = 1 << (bits - 1);
  const float d = GroupScale(m, half, f16, scales + gidx * (f16 ? 2 : 4), sub, flag);
  uint64_t acc = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) acc |= static_cast<uint64_t>(Code(v[j], d, half)) << (j * bits);
  uint8_t* out = codes + r * row_bytes + first * bits / 8;
  switch (bits) {  // offsets are multiples of the store width because rows hold a multiple of 8 weights
    case 8:
      *reinterpret_cast<uint2*>(out) =
          make_uint2(static_cast<uint32_t>(acc), static_cast<uint32_t>(acc >> 32));
      break;
    case 4:
      *reinterpret_cast<uint32_t*>(out) = static_cast<uint32_t>(acc);
      break;
    case 2:
      *reinterpret_cast<uint16_t*>(out) = static_cast<uint16_t>(acc);
      break;
    default:
      for (int k = 0; k < bits; ++k) out[k] = static_cast<uint8_t>(acc >> (8 * k));
  }
}

// Any group size: codes, one per byte, then PackRowBytes.
__global__ void EncodeToBytes(const float* x, int64_t rows, int64_t cols, int64_t group,
                              int64_t groups_per_row, int bits, bool f16, uint8_t* code_bytes,
                              uint8_t* scales, int* flag) {
  const int lane = threadIdx.x % kWarp;
  const int half = 1 << (bits - 1);
  const WarpGroup w = SetUpGroup(x, rows, cols, group, groups_per_row, half, f16, scales, flag);
  if (!w.active) return;
  const int64_t r = w.r, g0 = w.g0, n = w.n;
  const float* xg = w.xg;
  const float d = w.d;
  for (int64_t i = lane; i < n; i += kWarp)
    code_bytes[r * cols + g0 + i] = static_cast<uint8_t>(Code(xg[i], d, half));
}

}  // namespace

Status LaunchEncode(const float* x, int64_t rows, int64_t cols, const RtnOptions& o, uint8_t* codes,
                    uint8_t* scales, uint8_t* scratch, int* flag, void* stream_ptr) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const int64_t groups = o.groups_per_row(cols);
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(cols, o.bits));
  const bool f16 = o.scale_dtype == DType::kF16;
  const int64_t warps = rows * groups;
  const int threads = kWarp * kWarpsPerBlock;
  const int64_t blocks = (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > INT32_MAX)
    return UnimplementedError("rtn on CUDA: block of " + std::to_string(warps) + " groups is too large");
  const int64_t group = o.group_size;
  const bool vector_path =
      cols % 8 == 0 && group <= 256 && (group & (group - 1)) == 0 && group >= 8 && cols % group == 0;
  if (vector_path) {
    const int lpg = static_cast<int>(group / 8);
    const int64_t groups_per_block = static_cast<int64_t>(kWarpsPerBlock) * (kWarp / lpg);
    const unsigned vblocks = static_cast<unsigned>((rows * groups + groups_per_block - 1) / groups_per_block);
    switch (lpg) {
#define QUANTD_RTN_VECTOR(L)                                                                               \
  case L:                                                                                                  \
    EncodeVector<L><<<vblocks, threads, 0, stream>>>(x, rows, cols, groups, o.bits, f16, codes, row_bytes, \
                                                     scales, flag);                                        \
    break;
      QUANTD_RTN_VECTOR(1)
      QUANTD_RTN_VECTOR(2)
      QUANTD_RTN_VECTOR(4) QUANTD_RTN_VECTOR(8) QUANTD_RTN_VECTOR(16) QUANTD_RTN_VECTOR(32)
#undef QUANTD_RTN_VECTOR
    }
  } else if (o.group_size % 8 == 0) {
    EncodeFused<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        x, rows, cols, o.group_size, groups, o.bits, f16, codes, row_bytes, scales, flag);
  } else {
    EncodeToBytes<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(x, rows, cols, o.group_size, groups,
                                                                         o.bits, f16, scratch, scales, flag);
    const int64_t bytes = rows * row_bytes;
    cuda::PackRowBytes<<<static_cast<unsigned>((bytes + 255) / 256), 256, 0, stream>>>(
        scratch, rows, cols, o.bits, codes, row_bytes);
  }
  QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "rtn kernel launch");
  return OkStatus();
}

StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) {
  QUANTD_ASSIGN_OR_RETURN(RtnOptions o, RtnOptions::FromParams(resolved));
  QUANTD_ASSIGN_OR_RETURN(cuda::ThreadResources * res, cuda::ThreadResources::Get());
  const int64_t rows = in.rows, cols = in.cols;
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(cols, o.bits));
  const int64_t groups = o.groups_per_row(cols);
  const size_t in_bytes = static_cast<size_t>(rows * cols) * 4;
  const size_t codes_bytes = static_cast<size_t>(rows * row_bytes);
  const size_t scale_bytes = static_cast<size_t>(rows * groups) * DTypeSize(o.scale_dtype);
  const bool needs_scratch = o.group_size % 8 != 0;
  // Output layout on the device: codes, scales (at an 8-byte boundary), the overflow flag (at an
  // 8-byte boundary: atomics need alignment).
  const size_t scales_at = (codes_bytes + 7) / 8 * 8;
  const size_t flag_at = (scales_at + scale_bytes + 7) / 8 * 8;
  const size_t out_bytes = flag_at + sizeof(int);
  QUANTD_ASSIGN_OR_RETURN(void* h_in, res->Host(0, in_bytes));
  QUANTD_ASSIGN_OR_RETURN(void* h_out, res->Host(1, out_bytes));
  QUANTD_ASSIGN_OR_RETURN(void* d_in, res->Device(0, in_bytes));
  QUANTD_ASSIGN_OR_RETURN(void* d_out, res->Device(1, out_bytes));
  void* d_scratch = nullptr;
  if (needs_scratch) {
    QUANTD_ASSIGN_OR_RETURN(d_scratch, res->Device(2, static_cast<size_t>(rows * cols)));
  }
  uint8_t* d_codes = static_cast<uint8_t*>(d_out);
  uint8_t* d_scales = d_codes + scales_at;
  int* d_flag = reinterpret_cast<int*>(d_codes + flag_at);
  cudaStream_t s = res->stream();
  cuda::ParallelCopy(h_in, in.data.data(), in_bytes);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_in, h_in, in_bytes, cudaMemcpyHostToDevice, s), "rtn upload");
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_flag, 0, sizeof(int), s), "rtn flag");
  QUANTD_RETURN_IF_ERROR(LaunchEncode(static_cast<const float*>(d_in), rows, cols, o, d_codes, d_scales,
                                      static_cast<uint8_t*>(d_scratch), d_flag, s));
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h_out, d_out, out_bytes, cudaMemcpyDeviceToHost, s),
                              "rtn download");
  QUANTD_RETURN_IF_ERROR(res->Sync("rtn on CUDA"));
  const uint8_t* h = static_cast<const uint8_t*>(h_out);
  int flag;
  memcpy(&flag, h + flag_at, sizeof(int));
  if (flag) {
    return InvalidArgumentError(
        "a group has values too large for f16 scales (|x| > 65504 * 2^(bits-1)); use scale_dtype=f32");
  }
  Encoding enc;
  enc.sections.push_back(Section::Zeros("codes", DType::kU8, {rows, row_bytes}));
  enc.sections.push_back(Section::Zeros("scales", o.scale_dtype, {rows, groups}));
  cuda::ParallelCopy(enc.sections[0].data.data(), h, codes_bytes);
  memcpy(enc.sections[1].data.data(), h + scales_at, scale_bytes);
  return enc;
}

}  // namespace quantd::rtn_cuda
