#include "kashin/kashin.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "quantd/core/bitpack.h"
#include "quantd/core/parallel.h"

namespace quantd {
namespace {

using kashin_internal::TransformKind;

constexpr char kBits[] = "bits";
constexpr char kTransform[] = "transform";
constexpr char kMode[] = "mode";
constexpr char kBlockLength[] = "block_length";
constexpr char kTolerance[] = "tolerance";
constexpr char kMaxIterations[] = "max_iterations";
constexpr char kSeed[] = "seed";
constexpr char kNonConverged[] = "non_converged";
constexpr char kScaleDtype[] = "scale_dtype";
constexpr char kFallbackDtype[] = "fallback_dtype";
constexpr char kKMeansRestarts[] = "kmeans_restarts";
constexpr char kStepChoice[] = "step_choice";

constexpr int64_t kMaxIterationsLimit = 1000000;

// Index of the value of `key` in `allowed` (absent: the first, the default).
StatusOr<int> Choice(const Params& p, std::string_view key, std::initializer_list<std::string_view> allowed) {
  StatusOr<std::string> v = p.GetEnum(key, *allowed.begin(), allowed);
  if (!v.ok()) return v.status();
  int i = 0;
  for (std::string_view a : allowed) {
    if (a == std::string_view(*v)) break;
    ++i;
  }
  return i;
}

StatusOr<DType> FloatDtype(const Params& p, std::string_view key) {
  QUANTD_ASSIGN_OR_RETURN(int i, Choice(p, key, {"f16", "f32"}));
  return i == 0 ? DType::kF16 : DType::kF32;
}

}  // namespace

StatusOr<KashinOptions> KashinOptions::FromParams(const Params& p) {
  QUANTD_RETURN_IF_ERROR(
      p.CheckKnown("kashin", {kBits, kTransform, kMode, kBlockLength, kTolerance, kMaxIterations, kSeed,
                              kNonConverged, kScaleDtype, kFallbackDtype, kKMeansRestarts, kStepChoice}));
  KashinOptions o;
  QUANTD_ASSIGN_OR_RETURN(int64_t bits, p.GetInt(kBits, 4, 1, 8));
  o.bits = static_cast<int>(bits);
  // Same order as TransformKind.
  QUANTD_ASSIGN_OR_RETURN(int t, Choice(p, kTransform, {"hadamard", "dct", "dct_signed", "qr"}));
  o.transform = static_cast<TransformKind>(t);
  QUANTD_ASSIGN_OR_RETURN(int mode, Choice(p, kMode, {"rows", "matrix"}));
  o.mode = mode == 0 ? KashinMode::kRows : KashinMode::kMatrix;
  QUANTD_ASSIGN_OR_RETURN(o.block_length, p.GetInt(kBlockLength, 0, 0, int64_t{1} << 30));
  if (o.mode == KashinMode::kMatrix && o.block_length != 0) {
    return InvalidArgumentError(
        "parameter 'block_length' = " + std::to_string(o.block_length) +
        " applies to mode=rows only; matrix mode decomposes the whole tensor (use 0)");
  }
  QUANTD_ASSIGN_OR_RETURN(o.tolerance, p.GetDouble(kTolerance, 1e-3, std::numeric_limits<double>::lowest(),
                                                   std::numeric_limits<double>::max()));
  if (!(o.tolerance > 0 && o.tolerance < 1)) {
    return InvalidArgumentError("parameter 'tolerance' = " + FormatDouble(o.tolerance) +
                                " must lie strictly between 0 and 1 (a relative residual)");
  }
  QUANTD_ASSIGN_OR_RETURN(o.max_iterations, p.GetInt(kMaxIterations, 200, 1, kMaxIterationsLimit));
  QUANTD_ASSIGN_OR_RETURN(int64_t seed, p.GetInt(kSeed, 0, 0, std::numeric_limits<int64_t>::max()));
  o.seed = static_cast<uint64_t>(seed);
  QUANTD_ASSIGN_OR_RETURN(int nc, Choice(p, kNonConverged, {"keep", "quantize"}));
  o.non_converged = nc == 0 ? KashinPolicy::kKeep : KashinPolicy::kQuantize;
  QUANTD_ASSIGN_OR_RETURN(o.scale_dtype, FloatDtype(p, kScaleDtype));
  QUANTD_ASSIGN_OR_RETURN(o.fallback_dtype, FloatDtype(p, kFallbackDtype));
  QUANTD_ASSIGN_OR_RETURN(int64_t restarts, p.GetInt(kKMeansRestarts, 4, 1, 64));
  o.kmeans_restarts = static_cast<int>(restarts);
  QUANTD_ASSIGN_OR_RETURN(int choice, Choice(p, kStepChoice, {"slice", "vector"}));
  o.step_choice = choice == 0 ? KashinStepChoice::kSlice : KashinStepChoice::kVector;
  return o;
}

Params KashinOptions::ToParams() const {
  Params p;
  p.SetInt(kBits, bits);
  p.Set(kTransform, std::string(kashin_internal::TransformName(transform)));
  p.Set(kMode, mode == KashinMode::kRows ? "rows" : "matrix");
  p.SetInt(kBlockLength, block_length);
  p.SetDouble(kTolerance, tolerance);
  p.SetInt(kMaxIterations, max_iterations);
  p.SetInt(kSeed, static_cast<int64_t>(seed));
  p.Set(kNonConverged, non_converged == KashinPolicy::kKeep ? "keep" : "quantize");
  p.Set(kScaleDtype, scale_dtype == DType::kF16 ? "f16" : "f32");
  p.Set(kFallbackDtype, fallback_dtype == DType::kF16 ? "f16" : "f32");
  p.SetInt(kKMeansRestarts, kmeans_restarts);
  p.Set(kStepChoice, step_choice == KashinStepChoice::kVector ? "vector" : "slice");
  return p;
}

namespace {

class Kashin final : public Method {
 public:
  std::string_view name() const override { return "kashin"; }
  std::string_view summary() const override {
    return "Kashin quantization: greedy decomposition over the overdetermined basis [I, Q^T], 2-D k-means "
           "of the factor pairs, one b-bit label per weight";
  }
  std::vector<ParamSpec> param_specs() const override {
    return {
        {kBits, "int", "4", "1..8",
         "bits per weight: one label per weight, 2^bits two-dimensional centroids"},
        {kTransform, "enum", "hadamard", "hadamard|dct|dct_signed|qr",
         "orthogonal Q: randomized Hadamard, orthonormal DCT-II, sign-randomized DCT (C^T E C), or dense "
         "Haar "
         "from a seeded QR (O(n^2), length <= 4096)"},
        {kMode, "enum", "rows", "rows|matrix",
         "rows: each row (or block) is one vector (chunkable); matrix: the paper's two-sided Q1 X Q2^T over "
         "the "
         "whole tensor"},
        {kBlockLength, "int", "0", "0..2^30",
         "rows mode: weights per vector, 0 = the whole row; the last block of a row may be shorter"},
        {kTolerance, "double", "0.001", "(0, 1)", "stop when |residual| <= tolerance * |x|"},
        {kMaxIterations, "int", "200", "1..1000000",
         "greedy steps at most per vector (the authors' OPT script: 200)"},
        {kSeed, "int", "0", ">= 0", "seed of the transform's signs or Gaussian matrix and of k-means"},
        {kNonConverged, "enum", "keep", "keep|quantize",
         "rows (matrix mode: the tensor) whose decomposition misses the tolerance: store unquantized, or "
         "quantize anyway"},
        {kScaleDtype, "enum", "f16", "f16|f32", "storage type of the per-vector scales"},
        {kFallbackDtype, "enum", "f16", "f16|f32", "storage type of rows kept unquantized"},
        {kKMeansRestarts, "int", "4", "1..64",
         "k-means++ initialisations (each followed by Lloyd) per slice; the lowest distortion wins"},
        {kStepChoice, "enum", "slice", "slice|vector",
         "rows mode: the first bits+2 u-or-v picks made once for all vectors of the slice (the larger total "
         "energy removed; aligns their factor lattices), or every pick by each vector (the per-vector "
         "greedy)"},
    };
  }

  StatusOr<Params> Resolve(const Params& user, int64_t cols) const override {
    QUANTD_ASSIGN_OR_RETURN(KashinOptions o, KashinOptions::FromParams(user));
    if (o.transform == TransformKind::kQr) {
      const int64_t n = o.mode == KashinMode::kRows ? o.BlockLength(cols) : cols;
      if (n > kashin_internal::kMaxDenseSize) {
        return InvalidArgumentError("transform 'qr' is dense and limited to vectors of " +
                                    std::to_string(kashin_internal::kMaxDenseSize) + " weights; rows have " +
                                    std::to_string(cols) +
                                    (o.mode == KashinMode::kRows ? " (set block_length <= 4096)" : ""));
      }
    }
    return o.ToParams();
  }

  bool AllowsRowChunks(const Params& resolved) const override {
    auto o = KashinOptions::FromParams(resolved);
    return !o.ok() || o->mode == KashinMode::kRows;
  }

  StatusOr<Encoding> Encode(const RowBlock& in, const Params& resolved) const override {
    QUANTD_ASSIGN_OR_RETURN(KashinOptions o, KashinOptions::FromParams(resolved));
    return kashin_internal::EncodeWith(in, o, kashin_internal::FastKernels());
  }

  Status Decode(const Encoding& enc, std::span<float> out) const override {
    QUANTD_ASSIGN_OR_RETURN(KashinOptions o, KashinOptions::FromParams(enc.params));
    return kashin_internal::DecodeWith(enc, o, out);
  }
};

}  // namespace

const Method& KashinMethod() {
  static const Kashin kKashin;
  return kKashin;
}

}  // namespace quantd
