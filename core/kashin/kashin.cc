#include "core/kashin/kashin.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/common/bitpack.h"
#include "core/common/cuda_encoder.h"
#include "core/common/parallel.h"
#include "core/kashin/kashin_cuda.h"

namespace quantd {
namespace {

using kashin_internal::TransformKind;

constexpr int64_t kMaxIterationsLimit = 1000000;

Status CheckCombinations(const KashinOptions& o) {
  if (o.mode == KashinMode::kMatrix && o.block_length != 0) {
    return InvalidArgumentError(
        "parameter 'block_length' = " + std::to_string(o.block_length) +
        " applies to mode=rows only; matrix mode decomposes the whole tensor (use 0)");
  }
  return OkStatus();
}

const ParamTable<KashinOptions>& Table() {
  using O = KashinOptions;
  static const std::vector<std::pair<std::string, DType>> kFloatTypes = {{"f16", DType::kF16},
                                                                         {"f32", DType::kF32}};
  static const ParamTable<KashinOptions> kTable(
      "kashin",
      {
          IntParam("bits", &O::bits, 1, 8,
                   "bits per weight: one label per weight, 2^bits two-dimensional centroids"),
          ChoiceParam("transform", &O::transform,
                      {{"hadamard", TransformKind::kHadamard},
                       {"dct", TransformKind::kDct},
                       {"dct_signed", TransformKind::kDctSigned},
                       {"qr", TransformKind::kQr}},
                      "orthogonal Q: randomized Hadamard, orthonormal DCT-II, sign-randomized DCT (C^T E C), "
                      "or dense "
                      "Haar from a seeded QR (O(n^2), length <= 4096)"),
          ChoiceParam(
              "mode", &O::mode, {{"rows", KashinMode::kRows}, {"matrix", KashinMode::kMatrix}},
              "rows: each row (or block) is one vector (chunkable); matrix: the paper's two-sided Q1 X Q2^T "
              "over the whole tensor"),
          IntParam(
              "block_length", &O::block_length, 0, int64_t{1} << 30,
              "rows mode: weights per vector, 0 = the whole row; the last block of a row may be shorter"),
          DoubleParam("tolerance", &O::tolerance, 0, 1, "stop when |residual| <= tolerance * |x|",
                      /*open=*/true),
          IntParam("max_iterations", &O::max_iterations, 1, kMaxIterationsLimit,
                   "greedy steps at most per vector (the authors' OPT script: 200)"),
          IntParam("seed", &O::seed, 0, std::numeric_limits<int64_t>::max(),
                   "seed of the transform's signs or Gaussian matrix and of k-means"),
          ChoiceParam(
              "non_converged", &O::non_converged,
              {{"keep", KashinPolicy::kKeep}, {"quantize", KashinPolicy::kQuantize}},
              "rows (matrix mode: the tensor) whose decomposition misses the tolerance: store unquantized, "
              "or quantize anyway"),
          ChoiceParam("scale_dtype", &O::scale_dtype, kFloatTypes, "storage type of the per-vector scales"),
          ChoiceParam("fallback_dtype", &O::fallback_dtype, kFloatTypes,
                      "storage type of rows kept unquantized"),
          IntParam(
              "kmeans_restarts", &O::kmeans_restarts, 1, 64,
              "k-means++ initialisations (each followed by Lloyd) per slice; the lowest distortion wins"),
          ChoiceParam(
              "step_choice", &O::step_choice,
              {{"slice", KashinStepChoice::kSlice}, {"vector", KashinStepChoice::kVector}},
              "rows mode: the first bits+2 u-or-v picks made once for all vectors of the slice (the larger "
              "total energy removed; aligns their factor lattices), or every pick by each vector (the "
              "per-vector greedy)"),
      },
      CheckCombinations);
  return kTable;
}

}  // namespace

StatusOr<KashinOptions> KashinOptions::FromParams(const Params& p) { return Table().Read(p); }

Params KashinOptions::ToParams() const { return Table().Write(*this); }

namespace {

class Kashin final : public Method {
 public:
  std::string_view name() const override { return "kashin"; }
  std::string_view summary() const override {
    return "Kashin quantization: greedy decomposition over the overdetermined basis [I, Q^T], 2-D k-means "
           "of the factor pairs, one b-bit label per weight";
  }
  std::span<const ParamSpec> param_specs() const override { return Table().specs(); }
  Status CheckParams(const Params& user) const override { return Table().Read(user).status(); }
  CudaEncoder cuda_encoder() const override { return QUANTD_CUDA_ENCODER(kashin_cuda::Encode); }
  std::map<std::string, uint64_t> limits() const override {
    return {{"max_dense_length", static_cast<uint64_t>(kashin_internal::kMaxDenseSize)},
            {"max_cached_transform_bytes", kashin_internal::kTransformCacheBytes}};
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

  StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) const override {
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
