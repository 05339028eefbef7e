#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/common/bitpack.h"
#include "core/crossquant/crossquant.h"
#include "core/crossquant/crossquant_cuda.h"
#include "core/cuda/cuda_util.h"
#include "core/cuda/pack_kernels.cuh"

namespace quantd::crossquant_cuda {
namespace {

using crossquant_internal::Block;

constexpr int kWarp = 32;

// The reference's Quantize: round_half_even of the double quotient, clamped; 0 when d == 0.
__device__ int QuantizeOne(float x, float d, int qmax, bool* clamped) {
  *clamped = false;
  if (d == 0.0f) return 0;
  const double r = rint(static_cast<double>(x) / static_cast<double>(d));
  if (fabs(r) > qmax) {
    *clamped = true;
    return r > 0 ? qmax : -qmax;
  }
  return static_cast<int>(r);
}

// The same code as QuantizeOne without a double division in the common case: a = x * (1/s) *
// (1/v) in binary32 is within a relative 2.4e-7 of the exact x / d (d = f32(s * v); inverses and
// products each round once), i.e. within 1e-4 for |a| <= qmax + 1. So rint(a) is the exact
// quotient's rounding unless a lies within 1e-3 of a half-integer, where the exact double
// quotient decides; beyond qmax + 1 both clamp. REQUIRES: s and v in [2^-60, 2^60] or 0 (the
// host checks, else it uses the exact kernel), so the inverses are finite and normal.
__device__ int QuantizeFast(float x, float s, float v, float inv_s, float inv_v, int qmax, bool* clamped) {
  const float d = s * v;
  *clamped = false;
  if (d == 0.0f) return 0;
  const float a = (x * inv_s) * inv_v;
  if (fabsf(a) > qmax + 1) {
    *clamped = true;
    return a > 0 ? qmax : -qmax;
  }
  if (fabsf(fabsf(a - truncf(a)) - 0.5f) < 1e-3f) return QuantizeOne(x, d, qmax, clamped);
  const float r = rintf(a);
  if (fabsf(r) > qmax) {
    *clamped = true;
    return r > 0 ? qmax : -qmax;
  }
  return static_cast<int>(r);
}

struct Counts {
  unsigned long long nonzero, kernel, per_token_kernel, clamp;
};

// Codes (one per byte, offset by qmax + 1) and the kernel counts.
__global__ void Quantize(const float* x, int64_t rows, int64_t cols, const float* s, const float* v,
                         const float* per_token, int qmax, uint8_t* code_bytes, Counts* counts) {
  unsigned long long nonzero = 0, kernel = 0, per_token_kernel = 0, clamp = 0;
  const int64_t n = rows * cols;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / cols, j = e % cols;
    const float xij = x[e];
    const float d = s[i] * v[j];  // binary32 product, as the reference
    bool clamped;
    const int q = QuantizeOne(xij, d, qmax, &clamped);
    clamp += clamped;
    bool unused;
    const int qt = QuantizeOne(xij, per_token[i], qmax, &unused);
    if (xij != 0.0f) {
      ++nonzero;
      kernel += q == 0;
      per_token_kernel += qt == 0;
    }
    code_bytes[e] = static_cast<uint8_t>(q + qmax + 1);
  }
  for (int off = kWarp / 2; off > 0; off >>= 1) {
    nonzero += __shfl_down_sync(0xffffffffu, nonzero, off);
    kernel += __shfl_down_sync(0xffffffffu, kernel, off);
    per_token_kernel += __shfl_down_sync(0xffffffffu, per_token_kernel, off);
    clamp += __shfl_down_sync(0xffffffffu, clamp, off);
  }
  if (threadIdx.x % kWarp == 0) {  // integer sums: exact in any order
    atomicAdd(&counts->nonzero, nonzero);
    atomicAdd(&counts->kernel, kernel);
    atomicAdd(&counts->per_token_kernel, per_token_kernel);
    atomicAdd(&counts->clamp, clamp);
  }
}

// Both maxima in one read of the block: a block of 256 threads covers 256 columns of a tile of
// kTileRows rows; each thread keeps its column's maximum over the tile, each warp reduces every
// row of the tile over its 32 columns. Partial maxima meet through atomic maxima on the bit
// patterns (exact and order-free). `c_bits` null: static columns, only rows.
constexpr int kTileRows = 16;
constexpr int kMaximaThreads = 256;
__global__ void Maxima(const float* __restrict__ x, int64_t rows, int64_t cols, unsigned int* t_bits,
                       unsigned int* c_bits) {
  __shared__ float row_part[kTileRows][kMaximaThreads / kWarp];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kTileRows;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  float cmax = 0.0f;
#pragma unroll 4
  for (int k = 0; k < kTileRows; ++k) {
    const int64_t r = r0 + k;
    const float a = (j < cols && r < rows) ? fabsf(__ldcs(x + r * cols + j)) : 0.0f;
    cmax = fmaxf(cmax, a);
    float m = a;
    for (int off = kWarp / 2; off > 0; off >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, off));
    if (lane == 0) row_part[k][warp] = m;
  }
  __syncthreads();
  // One atomic per row of the tile and per block, instead of one per warp.
  if (threadIdx.x < kTileRows && r0 + threadIdx.x < rows) {
    float m = 0.0f;
    for (int w = 0; w < kMaximaThreads / kWarp; ++w) m = fmaxf(m, row_part[threadIdx.x][w]);
    atomicMax(t_bits + r0 + threadIdx.x, __float_as_uint(m));
  }
  if (c_bits != nullptr && j < cols) atomicMax(c_bits + j, __float_as_uint(cmax));
}

// The maxima pass (t_c: rows + cols bit patterns, zeroed by the caller; columns skipped when
// static).
void LaunchMaxima(const float* x, int64_t rows, int64_t cols, unsigned int* t_c, bool columns,
                  cudaStream_t st) {
  dim3 grid(static_cast<unsigned>((cols + kMaximaThreads - 1) / kMaximaThreads),
            static_cast<unsigned>((rows + kTileRows - 1) / kTileRows));
  Maxima<<<grid, kMaximaThreads, 0, st>>>(x, rows, cols, t_c, columns ? t_c + rows : nullptr);
}

// cols % 8 == 0: each thread quantizes 8 consecutive elements of one row (two float4 loads) and
// stores their `bits` packed bytes directly (the 8 codes fill exactly `bits` bytes).
// `inv` holds 1/s (rows), 1/v (cols) and 1/per_token (rows) in binary32, or is null: then every
// quotient is the exact double one.
__global__ void QuantizePacked(const float* __restrict__ x, int64_t rows, int64_t cols,
                               const float* __restrict__ s, const float* __restrict__ v,
                               const float* __restrict__ per_token, const float* __restrict__ inv, int qmax,
                               int bits, uint8_t* __restrict__ codes, int64_t row_bytes, Counts* counts) {
  const int64_t j0 = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
  unsigned long long nonzero = 0, kernel = 0, per_token_kernel = 0, clamp = 0;
  // Rows stride by gridDim.y so that each block adds its counts once (few atomics).
  for (int64_t i = blockIdx.y; i < rows && j0 < cols; i += gridDim.y) {
    const float si = s[i], pi = per_token[i];
    const float inv_si = inv ? inv[i] : 0.0f, inv_pi = inv ? inv[rows + cols + i] : 0.0f;
    const float4* xp = reinterpret_cast<const float4*>(x + i * cols + j0);
    const float4* vp = reinterpret_cast<const float4*>(v + j0);
    const float4 xa = __ldcs(xp), xb = __ldcs(xp + 1), va = vp[0], vb = vp[1];
    const float xs[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
    const float vs[8] = {va.x, va.y, va.z, va.w, vb.x, vb.y, vb.z, vb.w};
    float ivs[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (inv) {
      const float4* ip = reinterpret_cast<const float4*>(inv + rows + j0);
      const float4 ia = ip[0], ib = ip[1];
      ivs[0] = ia.x;
      ivs[1] = ia.y;
      ivs[2] = ia.z;
      ivs[3] = ia.w;
      ivs[4] = ib.x;
      ivs[5] = ib.y;
      ivs[6] = ib.z;
      ivs[7] = ib.w;
    }
    uint64_t acc = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      bool clamped, unused;
      const int q = inv ? QuantizeFast(xs[k], si, vs[k], inv_si, ivs[k], qmax, &clamped)
                        : QuantizeOne(xs[k], si * vs[k], qmax, &clamped);
      clamp += clamped;
      const int qt = inv ? QuantizeFast(xs[k], pi, 1.0f, inv_pi, 1.0f, qmax, &unused)
                         : QuantizeOne(xs[k], pi, qmax, &unused);
      if (xs[k] != 0.0f) {
        ++nonzero;
        kernel += q == 0;
        per_token_kernel += qt == 0;
      }
      acc |= static_cast<uint64_t>(q + qmax + 1) << (k * bits);
    }
    uint8_t* out = codes + i * row_bytes + j0 * bits / 8;
    switch (bits) {
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
  // Block sum (integers: exact in any order), then one atomic per counter and block.
  __shared__ unsigned long long part[4][8];
  for (int off = kWarp / 2; off > 0; off >>= 1) {
    nonzero += __shfl_down_sync(0xffffffffu, nonzero, off);
    kernel += __shfl_down_sync(0xffffffffu, kernel, off);
    per_token_kernel += __shfl_down_sync(0xffffffffu, per_token_kernel, off);
    clamp += __shfl_down_sync(0xffffffffu, clamp, off);
  }
  const int warp = threadIdx.x / kWarp;
  if (threadIdx.x % kWarp == 0) {
    part[0][warp] = nonzero;
    part[1][warp] = kernel;
    part[2][warp] = per_token_kernel;
    part[3][warp] = clamp;
  }
  __syncthreads();
  if (threadIdx.x < 4) {
    unsigned long long sum = 0;
    for (int w = 0; w < static_cast<int>(blockDim.x) / kWarp; ++w) sum += part[threadIdx.x][w];
    unsigned long long* dst[4] = {&counts->nonzero, &counts->kernel, &counts->per_token_kernel,
                                  &counts->clamp};
    if (sum) atomicAdd(dst[threadIdx.x], sum);
  }
}

// The quantizing pass: packed directly when rows hold a multiple of 8 weights, else one code per
// byte into `code_bytes` and a packing kernel.
void LaunchQuantize(const float* x, int64_t rows, int64_t cols, int bits, const float* s, const float* v,
                    const float* per_token, const float* inv, uint8_t* code_bytes, uint8_t* codes,
                    Counts* counts, cudaStream_t st) {
  const int qmax = (1 << (bits - 1)) - 1;
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(cols, bits));
  if (cols % 8 == 0) {
    dim3 grid(static_cast<unsigned>((cols / 8 + 255) / 256),
              static_cast<unsigned>(std::min<int64_t>(rows, 1024)));
    QuantizePacked<<<grid, 256, 0, st>>>(x, rows, cols, s, v, per_token, inv, qmax, bits, codes, row_bytes,
                                         counts);
    return;
  }
  const unsigned qblocks = static_cast<unsigned>(std::min<int64_t>((rows * cols + 255) / 256, 132 * 64));
  Quantize<<<qblocks, 256, 0, st>>>(x, rows, cols, s, v, per_token, qmax, bits == 8 ? codes : code_bytes,
                                    counts);
  if (bits != 8) {
    cuda::PackRowBytes<<<static_cast<unsigned>((rows * row_bytes + 255) / 256), 256, 0, st>>>(
        code_bytes, rows, cols, bits, codes, row_bytes);
  }
}

float Stored(float m, DType dtype) { return dtype == DType::kF16 ? F16ToFloat(FloatToF16(m)) : m; }

}  // namespace

Status LaunchDevicePasses(const float* x, int64_t rows, int64_t cols, int bits, const float* s,
                          const float* v, const float* per_token, const float* inv, float* t_c,
                          uint8_t* code_bytes, uint8_t* codes, void* counts, void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(t_c, 0, static_cast<size_t>(rows + cols) * 4, st),
                              "crossquant maxima");
  LaunchMaxima(x, rows, cols, reinterpret_cast<unsigned int*>(t_c), true, st);
  LaunchQuantize(x, rows, cols, bits, s, v, per_token, inv, code_bytes, codes, static_cast<Counts*>(counts),
                 st);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "crossquant kernels");
  return OkStatus();
}

StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) {
  QUANTD_ASSIGN_OR_RETURN(CrossQuantOptions o, CrossQuantOptions::FromParams(resolved));
  QUANTD_ASSIGN_OR_RETURN(const float* static_col_max, crossquant_internal::StaticColumns(in, o));
  QUANTD_ASSIGN_OR_RETURN(cuda::ThreadResources * res, cuda::ThreadResources::Get());
  const int64_t rows = in.rows, cols = in.cols;
  const size_t n = static_cast<size_t>(rows * cols);
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(cols, o.bits));
  const size_t codes_bytes = static_cast<size_t>(rows * row_bytes);
  cudaStream_t st = res->stream();
  // Device: x | t, c bits | s, v, per-token | code bytes | packed codes | counts.
  QUANTD_ASSIGN_OR_RETURN(void* d_x, res->Device(0, n * 4));
  QUANTD_ASSIGN_OR_RETURN(void* d_max, res->Device(1, static_cast<size_t>(rows + cols) * 4));
  QUANTD_ASSIGN_OR_RETURN(void* d_factors, res->Device(2, static_cast<size_t>(2 * rows + cols) * 8));
  QUANTD_ASSIGN_OR_RETURN(void* d_bytes, res->Device(3, n));
  QUANTD_ASSIGN_OR_RETURN(void* d_codes, res->Device(4, codes_bytes + sizeof(Counts) + 8));
  QUANTD_ASSIGN_OR_RETURN(void* h_x, res->Host(0, n * 4));
  QUANTD_ASSIGN_OR_RETURN(void* h_small, res->Host(1, static_cast<size_t>(2 * rows + cols) * 8 + 16));
  QUANTD_ASSIGN_OR_RETURN(void* h_codes, res->Host(2, codes_bytes + sizeof(Counts) + 8));
  float* dt = static_cast<float*>(d_max);
  const size_t counts_at = (codes_bytes + 7) / 8 * 8;
  Counts* d_counts = reinterpret_cast<Counts*>(static_cast<uint8_t*>(d_codes) + counts_at);

  cuda::ParallelCopy(h_x, in.data.data(), n * 4);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_x, h_x, n * 4, cudaMemcpyHostToDevice, st),
                              "crossquant upload");
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_max, 0, static_cast<size_t>(rows + cols) * 4, st),
                              "crossquant maxima");
  const float* x = static_cast<const float*>(d_x);
  LaunchMaxima(x, rows, cols, reinterpret_cast<unsigned int*>(dt), static_col_max == nullptr, st);
  float* h_max = static_cast<float*>(h_small);
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(h_max, d_max, static_cast<size_t>(rows + cols) * 4, cudaMemcpyDeviceToHost, st),
      "crossquant maxima download");
  QUANTD_RETURN_IF_ERROR(res->Sync("crossquant maxima on CUDA"));

  // The factors, on the host with the CPU path's arithmetic.
  Block b;
  b.row_max.assign(h_max, h_max + rows);
  if (static_col_max != nullptr) {
    b.col_max.assign(static_col_max, static_col_max + cols);
  } else {
    b.col_max.assign(h_max + rows, h_max + rows + cols);  // bit patterns of non-negative floats
  }
  bool finite = true;
  for (float& t : b.row_max) finite &= std::isfinite(t = Stored(t, o.scale_dtype));
  for (float& c : b.col_max) finite &= std::isfinite(c = Stored(c, o.scale_dtype));
  if (!finite) return crossquant_internal::OverflowError(o);
  const int qmax = o.qmax();
  // Factors and, when every factor is 0 or in [2^-60, 2^60], their binary32 inverses for the
  // fast quotient (QuantizeFast); otherwise every quotient is the exact double one.
  std::vector<float> factors(static_cast<size_t>(2 * (2 * rows + cols)));
  float* s = factors.data();
  float* v = s + rows;
  float* pt = v + cols;
  float smax = 0, vmax = 0;
  for (int64_t i = 0; i < rows; ++i) {
    s[i] = static_cast<float>(std::pow(static_cast<double>(b.row_max[i]), o.alpha) / qmax);
    pt[i] = b.row_max[i] / static_cast<float>(qmax);
    smax = std::max(smax, s[i]);
  }
  for (int64_t j = 0; j < cols; ++j) {
    v[j] = static_cast<float>(std::pow(static_cast<double>(b.col_max[j]), 1.0 - o.alpha));
    vmax = std::max(vmax, v[j]);
  }
  if (!std::isfinite(smax * vmax)) return crossquant_internal::OverflowError(o);  // the largest step
  bool fast = true;
  float* inv = pt + rows;
  for (int64_t k = 0; k < 2 * rows + cols; ++k) {
    const float f = factors[static_cast<size_t>(k)];
    fast = fast && (f == 0.0f || (f >= 0x1p-60f && f <= 0x1p60f));
    inv[k] = f == 0.0f ? 0.0f : 1.0f / f;
  }
  memcpy(h_small, factors.data(), factors.size() * 4);
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(d_factors, h_small, factors.size() * 4, cudaMemcpyHostToDevice, st),
      "crossquant factors upload");
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_counts, 0, sizeof(Counts), st), "crossquant counts");
  const float* df = static_cast<const float*>(d_factors);
  LaunchQuantize(x, rows, cols, o.bits, df, df + rows, df + rows + cols,
                 fast ? df + 2 * rows + cols : nullptr, static_cast<uint8_t*>(d_bytes),
                 static_cast<uint8_t*>(d_codes), d_counts, st);
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(h_codes, d_codes, counts_at + sizeof(Counts), cudaMemcpyDeviceToHost, st),
      "crossquant download");
  QUANTD_RETURN_IF_ERROR(res->Sync("crossquant on CUDA"));
  b.codes.resize(codes_bytes);
  cuda::ParallelCopy(b.codes.data(), h_codes, codes_bytes);
  Counts counts;
  memcpy(&counts, static_cast<const uint8_t*>(h_codes) + counts_at, sizeof(Counts));
  b.counts.nonzero = static_cast<int64_t>(counts.nonzero);
  b.counts.kernel = static_cast<int64_t>(counts.kernel);
  b.counts.per_token_kernel = static_cast<int64_t>(counts.per_token_kernel);
  b.counts.clamp = static_cast<int64_t>(counts.clamp);
  return crossquant_internal::ToEncoding(std::move(b), rows, cols, o);
}

}  // namespace quantd::crossquant_cuda
