// File: kashin.h
//
// Kashin quantization (Merkulov et al., "Quantization of Large Language Models with an
// Overdetermined Basis", UAI 2024, and its authors' code; the stored format is docs/FORMAT.md).
//
// A vector x (a row, a block of a row, or in `matrix` mode the whole tensor) is normalised to
// unit RMS, x~ = x / s with s = |x|_2 / sqrt(n), and decomposed over the overdetermined basis
// [I, Q^T] (Q orthogonal, transform.h) by the greedy algorithm of Kashin & Romskii:
//
//   r <- x~, u <- 0, v <- 0
//   repeat until |r|_2 <= tolerance * |x~|_2, at most max_iterations times:
//     y <- Q r
//     if |r|_1^2 / nnz(r) > |y|_1^2 / nnz(y):      # the step that removes more energy
//       c <- |r|_1 / nnz(r);  u += c sign(r);  r -= c sign(r)
//     else:
//       c <- |y|_1 / nnz(y);  v += c sign(y);  r -= c Q^T sign(y)
//
// so x~ = u + Q^T v + r, and both |u|_inf and |v|_inf are O(|x~|_2 / sqrt(n)) = O(1) (Kashin's
// theorem, for Q outside a small set). Each step is the orthogonal projection of r onto sign(r)
// or onto Q^T sign(Q r); with no exact zeros comparing the removed energies is comparing the
// L1 norms, as the paper does. Ties go to the v step, as in the authors' code.
//
// Every weight position i then gives a point (u_i, v_i) in the plane; the points of a slice are
// clustered by a deterministic 2-D k-means with k = 2^bits centroids (kmeans.cc), and each
// weight stores its b-bit label. Decoding:  x_hat = s * (C_u[label] + Q^T C_v[label]).
//
// Modes:
//   rows    Each row, or each block of block_length weights of a row (the last block of a row
//           is shorter when block_length does not divide cols), is one vector with its own
//           scale s; Q is the transform of that length. Rows never mix, so the client may cut
//           a tensor into row chunks; each chunk (slice) has its own codebook. Who picks the u
//           or v step (step_choice):
//             vector  each vector by the rule above: the per-vector greedy algorithm that the
//                     convergence theorem covers, rows fully independent.
//             slice   (default) for the first bits + 2 steps every vector of the slice still
//                     above its tolerance takes the same kind of step, the one removing more
//                     energy summed over them; each keeps its own coefficient, so each step is
//                     still an exact projection of that vector; later steps are each vector's
//                     own greedy choice (DecomposeSlice). The paper's matrix algorithm makes one
//                     choice for the whole tensor too.
//           Why slice: a point (u_i, v_i) is a sum of +-c_k over the steps k, a lattice whose
//           axes are set by which steps were u and which v. When rows disagree about the order
//           (Gaussian-like rows: |r|_1 and |Q r|_1 are nearly equal, so the first step is a coin
//           toss), their lattices are transposed copies and one codebook fits them badly: on
//           the real models 11.7 dB at 4 bits with `vector`, 17.2 dB with `slice`
//           (bench/results/kashin.md).
//   matrix  The paper's experiments: the whole tensor is one vector under the two-sided
//           transform X -> Q1 X Q2^T (MatrixTransform), one scale, one codebook. No convergence
//           guarantee (the follow-up paper reports layers that fail, and so do we on
//           heavy-tailed matrices). AllowsRowChunks is false.
//
// Scales are the RMS (not the L2 norm) so that the factors of blocks of different lengths, and
// of different rows, have the same O(1) magnitude and one codebook serves them all (one scale
// for the whole slice instead loses 1-5 dB, bench/results/kashin.md).
//
// Devices: EncodeRows with device cuda or auto runs rows mode with the hadamard, dct and
// dct_signed transforms on a GPU (kashin_cuda.h), with the CPU's bytes; matrix mode and qr run on
// the CPU.
//
// Parameters (defaults): bits 4, transform hadamard, mode rows, block_length 0, tolerance 1e-3
// (the residual left is 60 dB below the signal, far below any b <= 8 quantization noise; the
// paper's 1e-6 costs about 4 times the steps for no measurable gain), max_iterations 200 (the
// authors' OPT script), seed 0, non_converged keep, scale_dtype f16, fallback_dtype f16,
// kmeans_restarts 4, step_choice slice.
//
// A vector that has not reached the tolerance after max_iterations is "not converged". With
// non_converged=keep its rows (rows mode: every row with such a block; matrix mode: the whole
// tensor) are stored unquantized in fallback_dtype and counted in the bits per weight, as the
// authors' OPT script keeps such layers in fp16; with non_converged=quantize they are
// quantized anyway, as their GLUE script does.
//
// Sections (leading dimension first; docs/FORMAT.md has the byte-level description):
//   codes           U8 [rows, ceil(cols * bits / 8)]  labels, bit-packed per row
//   scales          scale_dtype [rows, blocks_per_row] (rows mode) or [1, 1] (matrix mode)
//   codebook        F32 [1, 2^bits, 2]               (C_u, C_v) per label
//   fallback_rows   I64 [f]                          (only with non_converged=keep) rows of the
//                                                    slice stored unquantized, increasing
//   fallback_values fallback_dtype [f, cols]         their values
//
// Stats: vectors, vectors_not_converged, iterations_sum, iterations_max, residual_max (the
// largest |x~ - u - Q^T v| / |x~| before clustering, recomputed exactly), rows_unquantized,
// kmeans_iterations_max.
#ifndef QUANTD_CORE_KASHIN_KASHIN_H_
#define QUANTD_CORE_KASHIN_KASHIN_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/kashin/transform.h"
#include "quantd/core/chunk.h"
#include "quantd/core/dtype.h"
#include "quantd/core/encoding.h"
#include "quantd/core/method.h"
#include "quantd/core/params.h"

namespace quantd {

enum class KashinMode { kRows, kMatrix };
enum class KashinPolicy { kQuantize, kKeep };
// Rows mode: who chooses between the u step and the v step (kashin_internal::DecomposeSlice).
enum class KashinStepChoice { kVector, kSlice };

struct KashinOptions {
  int bits = 4;  // k = 2^bits centroids
  kashin_internal::TransformKind transform = kashin_internal::TransformKind::kHadamard;
  KashinMode mode = KashinMode::kRows;
  int64_t block_length = 0;  // rows mode; 0 = the whole row
  double tolerance = 1e-3;   // relative residual
  int64_t max_iterations = 200;
  uint64_t seed = 0;
  KashinPolicy non_converged = KashinPolicy::kKeep;
  DType scale_dtype = DType::kF16;     // kF16 or kF32
  DType fallback_dtype = DType::kF16;  // kF16 or kF32
  int kmeans_restarts = 4;             // k-means++ and Lloyd runs; the best is kept
  KashinStepChoice step_choice = KashinStepChoice::kSlice;

  static StatusOr<KashinOptions> FromParams(const Params& p);
  Params ToParams() const;

  int centroids() const { return 1 << bits; }
  // Length of the blocks of a row of `cols` weights (the last one may be shorter).
  int64_t BlockLength(int64_t cols) const {
    return block_length == 0 || block_length > cols ? cols : block_length;
  }
  int64_t BlocksPerRow(int64_t cols) const {
    const int64_t l = BlockLength(cols);
    return (cols + l - 1) / l;
  }
  // Length of the last block of a row (BlockLength(cols) when it divides cols).
  int64_t LastBlockLength(int64_t cols) const { return cols - (BlocksPerRow(cols) - 1) * BlockLength(cols); }
};

const Method& KashinMethod();

namespace kashin_internal {

struct GreedyOptions {
  double tolerance = 1e-3;
  int64_t max_iterations = 200;
  // DecomposeSlice only: steps chosen for the whole slice; later steps are each vector's own.
  int64_t shared_steps = int64_t{1} << 62;
};

struct GreedyResult {
  int64_t iterations = 0;
  bool converged = false;
  double residual = 0;  // |x - u - Q^T v|_2 / |x|_2, recomputed after the last step (0 for x = 0)
};

// The greedy decomposition of x (n = q.size() values) into u + Q^T v.
// The reference: the algorithm exactly as written above, in double, one transform per
// comparison plus one per v step. Written for clarity.
GreedyResult DecomposeRef(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v);
// The fast path: float, keeps r and y = Q r both up to date so that each step costs one
// transform, and fuses the norms into the update passes. Vectors longer than 2^15 (matrix mode)
// are processed in parallel chunks whose partial sums are combined in chunk order.
// REQUIRES: work holds 3 * n floats.
GreedyResult Decompose(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v,
                       float* work);

// One vector of a slice: x (q->size() values) decomposed into u and v.
struct VectorTask {
  const Transform* q;
  const float* x;
  float* u;
  float* v;
};

// step_choice=slice: all vectors of a slice step in lockstep, and for the first shared_steps
// steps every vector still above its tolerance takes the same kind of step, the one that removes
// more energy summed over them (sum of |r|_1^2 / nnz(r) against sum of |Q r|_1^2 / nnz(Q r));
// each vector keeps its own coefficient, so every step is still an exact projection of that
// vector's residual. After shared_steps each vector makes its own greedy choice again. The
// factors of all rows then sit on lattices whose coarse levels were built in the same order,
// which one codebook fits far better (see bench/results/kashin.md). The method shares the first
// bits + 2 steps: a 2^bits-entry codebook resolves about one lattice level per bit, finer levels
// only spread the points inside a cluster, and handing them back to the per-vector greedy keeps
// its convergence (sharing every step left some heavy-tailed rows short of the tolerance after
// 100 steps). With a single vector this is Decompose.
// Reference (double, plain) and fast path (vectors in parallel, the choice summed in order).
std::vector<GreedyResult> DecomposeSliceRef(std::span<const VectorTask> tasks, const GreedyOptions& o);
std::vector<GreedyResult> DecomposeSlice(std::span<const VectorTask> tasks, const GreedyOptions& o);

// --- 2-D k-means (kmeans.cc) ----------------------------------------------------------------
//
// Definition (the reference and the fast path compute exactly this, bit for bit):
//  1. Sample: all n points when n <= sample_size, else one point per stratum: stratum i covers
//     [floor(i n / S), floor((i+1) n / S)) and its point is chosen by SeededUniform(seed,
//     kStreamKMeansInit, i). The pilot is P = min(m, pilot_size) points of the m-point sample,
//     those at positions floor(i m / P).
//  2. For each restart t < restarts: k-means++ on the pilot with seed RestartSeed(seed, t) (the
//     first centroid is pilot point floor(u P), then each next one is drawn with probability
//     proportional to the squared distance to the nearest chosen centroid; uniforms
//     SeededUniform(seed_t, kStreamKMeansInit, 2^40 + t'), cumulative sums in double in point
//     order), then Lloyd on the pilot. The restart with the lowest pilot distortion wins (the
//     first on ties).
//  3. Lloyd (when P < m) on the whole sample from the winner's centroids.
//     Lloyd runs until no label changes or max_iterations assignments; an empty cluster is
//     moved onto the point farthest from its centroid (lowest index on ties, each point once).
//  4. One assignment of all n points, then every non-empty centroid becomes the mean of its
//     points (a last Lloyd half-step; never increases the distortion for those labels).
// Distances are (du*du + dv*dv) in float; ties go to the lowest centroid index. Sums are in
// double, accumulated per block of kSumBlock points in point order, blocks added in order;
// distortions are float distances summed in double in point order.
// The restarts (on a pilot of a few thousand points) are what makes the clustering reliable:
// a single k-means++ start regularly settles 1-2 dB below the best on the lattice-like factor
// pairs; running them on the pilot keeps their cost below that of step 3.

struct KMeansOptions {
  int k = 16;  // 1..256
  uint64_t seed = 0;
  int64_t sample_size = 16384;  // step 1's S
  int64_t pilot_size = 4096;    // step 1's pilot
  int max_iterations = 100;     // per Lloyd run
  int restarts = 1;             // step 2
};

struct Codebook {
  std::vector<float> cu, cv;  // k centroids
  int iterations = 0;         // assignments of the last Lloyd run
};

inline constexpr int64_t kSumBlock = 16384;

// The sample's point indices (step 1), increasing.
std::vector<int64_t> SampleIndices(int64_t n, int64_t sample_size, uint64_t seed);
// Positions of the pilot within an m-point sample (step 1), increasing.
std::vector<int64_t> PilotIndices(int64_t m, int64_t pilot_size);
// Seed of restart t (t = 0 is the seed itself).
uint64_t RestartSeed(uint64_t seed, int restart);
// Step 2.
Codebook KMeansPlusPlus(const float* pu, const float* pv, int64_t m, int k, uint64_t seed);
// Mean squared distance of the points to their nearest centroid (double).
double Distortion(const float* pu, const float* pv, int64_t n, const Codebook& c);

// Per-centroid counts and sums (double) of a set of points.
struct CentroidSums {
  std::vector<int64_t> count;
  std::vector<double> su, sv;
  explicit CentroidSums(int k)
      : count(static_cast<size_t>(k), 0), su(static_cast<size_t>(k), 0.0), sv(static_cast<size_t>(k), 0.0) {}
  // Adds o's sums to these (the blocks of step 4 are added in block order).
  void Add(const CentroidSums& o) {
    for (size_t j = 0; j < count.size(); ++j) {
      count[j] += o.count[j];
      su[j] += o.su[j];
      sv[j] += o.sv[j];
    }
  }
};

// Steps 2-3 on the m sample points of step 1 (gathered by the caller): the codebook that step 4
// applies to all points. The CUDA encoder runs this on the host between its device steps.
Codebook FitSample(const float* su, const float* sv, int64_t m, const KMeansOptions& o);
// Step 4's last half-step: every centroid with points becomes their mean (float of the double
// quotient).
void SetMeans(const CentroidSums& sums, Codebook* c);

// Steps 1-4. `labels` receives n labels. Fast path: grid-pruned or vectorised assignment,
// parallel blocks.
Codebook KMeans2D(const float* pu, const float* pv, int64_t n, const KMeansOptions& o, uint8_t* labels);
// The reference: brute-force assignment, serial.
Codebook KMeans2DRef(const float* pu, const float* pv, int64_t n, const KMeansOptions& o, uint8_t* labels);

// Nearest centroid of each point, by brute force and by the grid-pruned search (equal results).
void AssignBrute(const float* pu, const float* pv, int64_t n, const Codebook& c, uint8_t* labels);
void AssignGrid(const float* pu, const float* pv, int64_t n, const Codebook& c, uint8_t* labels);

// --- the encoding pipeline (kashin_encode.cc) -------------------------------------------------

// The kernels a pipeline runs: the fast ones (the method) or the references (tests).
struct Kernels {
  GreedyResult (*decompose)(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v,
                            float* work);
  std::vector<GreedyResult> (*decompose_slice)(std::span<const VectorTask> tasks, const GreedyOptions& o);
  Codebook (*kmeans)(const float* pu, const float* pv, int64_t n, const KMeansOptions& o, uint8_t* labels);
};
Kernels FastKernels();
Kernels RefKernels();

// k-means settings for `bits` (sample size grows with k).
KMeansOptions KMeansOptionsFor(const KashinOptions& o);

// Rows mode in stages, shared by EncodeWith and the CUDA encoder (kashin_cuda.h):
//   NormaliseRows -> the decompositions of its vectors -> AddRowsStats -> the clustering and
//   label packing -> AddSections.

// The transforms of a row's blocks: all but the last have length BlockLength(cols).
struct RowTransforms {
  std::shared_ptr<const Transform> full, last;
  const Transform& Of(int64_t length) const { return length == full->size() ? *full : *last; }
};
StatusOr<RowTransforms> GetRowTransforms(const KashinOptions& o, int64_t cols);

// The greedy options of rows mode: shared_steps bits + 2 with step_choice=slice, 0 with vector
// (each vector's own choice from the first step, which is Decompose).
GreedyOptions RowsGreedyOptions(const KashinOptions& o);

// One vector of rows mode: block b of row `row`, `length` values at `offset` = row * cols + b *
// BlockLength(cols) of the slice.
struct RowVector {
  int64_t row;
  int64_t offset;
  int64_t length;
};

// The scales section, the input divided by each vector's stored scale (row-major like the
// input; zeros where the stored scale is 0), and the vectors to decompose: those with a non-zero
// stored scale, in row then block order (a zero vector decodes to zeros). INVALID_ARGUMENT for a
// scale beyond the range of scale_dtype.
struct NormalisedRows {
  Section scales;
  std::vector<float> xn;
  std::vector<RowVector> vectors;
};
StatusOr<NormalisedRows> NormaliseRows(const Chunk& input, const KashinOptions& o);

// The stats of the decompositions (results[i] is vectors[i]'s) into enc; returns the rows stored
// unquantized (non_converged=keep: the rows with a vector not converged), increasing.
std::vector<int64_t> AddRowsStats(int64_t rows, int64_t cols, const KashinOptions& o,
                                  std::span<const RowVector> vectors, std::span<const GreedyResult> results,
                                  Encoding* enc);

// The labels of the rows that are quantized (all but `fallback`) by kernels.kmeans over their
// (u, v) points, packed into the codes section; and the codebook (null when every row falls
// back).
struct Clustered {
  Section codes;
  std::unique_ptr<Codebook> codebook;
};
Clustered ClusterAndPack(const Chunk& input, const KashinOptions& o, const Kernels& kernels,
                         const std::vector<float>& u, const std::vector<float>& v,
                         const std::vector<int64_t>& fallback);

// The sections in their order: codes, scales, codebook (zeros when null: every row falls back),
// and with non_converged=keep the fallback rows' indices and values.
Status AddSections(const Chunk& input, const KashinOptions& o, Section codes, Section scales,
                   const Codebook* codebook, const std::vector<int64_t>& fallback, Encoding* enc);

// Encodes `input` (rows or matrix mode) into the sections listed at the top of this file.
StatusOr<Encoding> EncodeWith(const Chunk& input, const KashinOptions& o, const Kernels& kernels);
// Decodes after checking every section (enc may be untrusted).
Status DecodeWith(const Encoding& enc, const KashinOptions& o, std::span<float> out);

}  // namespace kashin_internal
}  // namespace quantd

#endif  // QUANTD_CORE_KASHIN_KASHIN_H_
