// File: pvq_kernels.h
//
// The work of PVQ's CUDA kernels (pvq.cu), one function per kernel thread (or thread block),
// compiled for the device by pvq.cu and for the host by the tests, which run every body on the
// CPU in the kernels' order and require the CPU encoder's bytes (pvq_kernels_test.cc). The
// kernels themselves only compute their thread's index and call these.
//
// The pipeline, for a chunk of rows in device memory:
//  1. RotateRow: one thread block per row, the row in shared memory: the steps of hadamard.cc
//     (sign diagonal, radix-2 butterflies in stages h = 1, 2, 4, ..., the scale multiply, and for
//     lengths that are not powers of two the second sign diagonal and transform on the last p
//     entries). Butterflies of one stage touch disjoint pairs, so any assignment of them to
//     threads gives the float results of the sequential loop.
//  2. SearchGroup: one thread per group: the pyramid search (pvq_search_impl.h, the CPU's own
//     source), the group's fitted gain and its search by-products.
//  3. FitRow: one thread per row: the row scale and the gain codes (pvq_gain.h, the CPU's own
//     arithmetic).
//  4. PackGroup: one thread per group: the Fischer index of the group's point and the group's
//     field (gain code, then index, LSB first) OR-ed into the row's code stream at its fixed bit
//     offset g (gain_bits + index_bits). Fields of neighbouring groups share boundary words, so
//     the device ORs atomically; OR is order-free, so the stream is the same in any schedule.
//     The stream is kept as 32-bit little-endian words per row (row_words of them), which is
//     bitpack.h's byte order once the padding words are dropped.
// Every floating-point operation is the CPU path's, in its order, in IEEE arithmetic without
// FMA, so encodings from the GPU are bit-identical to the CPU's.
#ifndef QUANTD_CORE_PVQ_PVQ_KERNELS_H_
#define QUANTD_CORE_PVQ_PVQ_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "core/common/hadamard_block.h"
#include "core/pvq/pvq.h"
#include "core/pvq/pvq_search_impl.h"
#include "quantd/core/status.h"

namespace quantd::pvq_internal {

// How the CUDA encoder cuts a block of rows into launches (pure host arithmetic, tested).
struct CudaPlan {
  int64_t rows = 0;
  int64_t chunk_rows = 0;  // rows per pass through the GPU (the last pass may have fewer)
  int64_t groups = 0;      // groups per row
  int64_t row_words = 0;   // 32-bit words per row of the device code stream
  int rotate_p = 0;        // largest power of two <= cols (0 without rotation)
  int rotate_threads = 0;  // threads per row block of the rotation (0 without rotation)
  size_t rotate_smem = 0;  // bytes of dynamic shared memory per row block
  float rotate_scale = 0;  // 1 / sqrt(rotate_p) in float, as hadamard.cc computes it
  int search_cap = 0;      // per-thread array capacity of the search: 32, 64, 128 or 256
  int64_t chunks() const { return (rows + chunk_rows - 1) / chunk_rows; }
};

// Threads per block of the per-group and per-row kernels.
inline constexpr int kCudaGroupThreads = 128;
// Weights per pass through the GPU: bounds device and pinned memory (about 4 + 4 bytes per
// weight) and lets the host stage the next pass while the GPU works on this one.
inline constexpr int64_t kCudaChunkWeights = int64_t{1} << 23;

// The plan for `rows` rows of `lay`. UNIMPLEMENTED when a row does not fit the shared memory
// of a block (rotate only; max_smem_per_block: the device's opt-in maximum) or the launches
// would exceed CUDA's grid limits. REQUIRES: rows >= 1, chunk_weights >= 1.
StatusOr<CudaPlan> PlanCudaEncode(const PvqLayout& lay, int64_t rows, bool rotate, int64_t max_smem_per_block,
                                  int64_t chunk_weights = kCudaChunkWeights);

// The row's fitted gains into `row_codes` and its scale: what EncodeRotatedRow does between the
// search and the packing.
QUANTD_HOST_DEVICE inline float FitRow(const double* row_fitted, const PvqLayout& lay, const float* levels,
                                       int n_levels, const float* tail_levels, int n_tail, DType dtype,
                                       uint8_t* row_codes) {
  return FitRowGainsIn(row_fitted, lay.groups(), levels, n_levels, tail_levels, n_tail, dtype, row_codes,
                       lay.gain_bits > 0 ? lay.groups() : 0);
}

// Rotates row `in` (n floats) into `out` (may be `in`) through `s` (n floats of scratch, the
// block's shared memory): hadamard_block.h's forward transform with a block of threads.
template <typename Sync>
QUANTD_HOST_DEVICE inline void RotateRow(const float* in, float* s, float* out, int n, int p,
                                         const float* signs, const float* second_signs, float scale, int tid,
                                         int threads, Sync& sync) {
  for (int i = tid; i < n; i += threads) s[i] = in[i];
  sync();
  HadamardForwardInBlock(s, n, p, signs, second_signs, scale, tid, threads, sync);
  for (int i = tid; i < n; i += threads) out[i] = s[i];
}

// Group `gidx` (row gidx / groups, group gidx % groups) of the rotated rows x: its point into p
// (the group's coordinates of the rows x p array), its fitted gain into fitted[gidx]; returns the
// search's by-products.
template <int kCap>
QUANTD_HOST_DEVICE inline SearchResult SearchGroup(const float* x, const PvqLayout& lay, SearchMode mode,
                                                   int64_t gidx, int32_t* p, double* fitted) {
  const int64_t groups = lay.groups();
  const int64_t r = gidx / groups, g = gidx % groups;
  const int64_t at = r * lay.cols + g * lay.group_size;
  const SearchResult res =
      SearchPyramidIn<kCap>(x + at, lay.GroupLength(g), lay.GroupPulses(g), mode, p + at);
  fitted[gidx] = FittedGain(res);
  return res;
}

// ORs the low `bits` (0..64) bits of v into a little-endian stream of 32-bit words at bit `pos`.
QUANTD_HOST_DEVICE inline void OrWord(uint32_t* w, uint32_t v) {
#if defined(__CUDA_ARCH__)
  atomicOr(w, v);
#else
  *w |= v;
#endif
}
QUANTD_HOST_DEVICE inline void OrBits(uint32_t* words, int64_t pos, uint64_t v, int bits) {
  if (bits == 0) return;
  if (bits < 64) v &= (uint64_t{1} << bits) - 1;
  uint32_t* w = words + (pos >> 5);
  const int s = static_cast<int>(pos & 31);
  const int touched = (s + bits + 31) >> 5;  // 1..3 words
  OrWord(w, static_cast<uint32_t>(v << s));
  if (touched > 1) OrWord(w + 1, static_cast<uint32_t>(s == 0 ? v >> 32 : v >> (32 - s)));
  if (touched > 2) OrWord(w + 2, static_cast<uint32_t>(v >> (64 - s)));  // s >= 1 here
}

// Group gidx's field into its row of `stream` (row_words words per row, zeroed beforehand):
// gain code (codes[gidx]; none for single-group rows) then the W-word Fischer index of its point.
template <int W>
QUANTD_HOST_DEVICE inline void PackGroup(const PyramidCounts& counts, const PvqLayout& lay, const int32_t* p,
                                         const uint8_t* codes, int64_t gidx, uint32_t* stream,
                                         int64_t row_words) {
  const int64_t groups = lay.groups();
  const int64_t r = gidx / groups, g = gidx % groups;
  uint32_t* row = stream + r * row_words;
  int64_t pos = g * (lay.gain_bits + lay.index_bits);  // the last group, shorter or not, starts here too
  if (lay.gain_bits > 0) OrBits(row, pos, codes[gidx], lay.gain_bits);
  pos += lay.gain_bits;
  const BigUint<W> index =
      EncodePyramid<W>(counts, p + r * lay.cols + g * lay.group_size, lay.GroupLength(g), lay.GroupPulses(g));
  const int bits = lay.GroupIndexBits(g);
  for (int i = 0; 64 * i < bits; ++i)
    OrBits(row, pos + 64 * i, index.w[i], bits - 64 * i < 64 ? bits - 64 * i : 64);
}

}  // namespace quantd::pvq_internal

#endif  // QUANTD_CORE_PVQ_PVQ_KERNELS_H_
