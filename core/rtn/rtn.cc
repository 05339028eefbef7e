#include "core/rtn/rtn.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "core/common/bitpack.h"
#include "core/common/cuda_encoder.h"
#include "core/common/parallel.h"
#include "core/common/section_check.h"
#include "core/rtn/rtn_cuda.h"

namespace quantd {
namespace rtn_internal {
namespace {

// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to the nearest integer,
// ties to even (the default rounding mode), exactly like nearbyint, and it vectorises on every
// x86-64 without SSE4.1's roundps.
constexpr float kRoundMagic = 12582912.0f;

}  // namespace

bool EncodeRowFast(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, uint8_t* scales) {
  const int half = 1 << (o.bits - 1);
  const float lo = static_cast<float>(-half);
  const float hi = static_cast<float>(half - 1);
  // One row of codes, one byte each, then packed in one pass.
  thread_local std::vector<uint8_t> q;
  q.resize(static_cast<size_t>(cols));
  bool finite = true;
  for (int64_t g0 = 0, gi = 0; g0 < cols; g0 += o.group_size, ++gi) {
    const int64_t n = std::min(o.group_size, cols - g0);
    const float* xg = x + g0;
    float amax = 0;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(xg[i]));
    float m = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (std::fabs(xg[i]) == amax) {
        m = xg[i];
        break;
      }
    }
    const float d =
        StoreScalar(m / lo, o.scale_dtype, scales + gi * static_cast<int64_t>(DTypeSize(o.scale_dtype)));
    finite = finite && std::isfinite(d);
    uint8_t* qg = q.data() + g0;
    if (d == 0) {
      memset(qg, half, static_cast<size_t>(n));
      continue;
    }
    for (int64_t i = 0; i < n; ++i) {
      float v = (xg[i] / d + kRoundMagic) - kRoundMagic;
      v = std::min(hi, std::max(lo, v));
      qg[i] = static_cast<uint8_t>(static_cast<int>(v) + half);
    }
  }
  PackByteCodes(q, o.bits, std::span<uint8_t>(codes, PackedBytes(cols, o.bits)));
  return finite;
}

void DecodeRowFast(const uint8_t* codes, const uint8_t* scales, int64_t cols, const RtnOptions& o,
                   float* out) {
  const int half = 1 << (o.bits - 1);
  thread_local std::vector<uint8_t> q;
  q.resize(static_cast<size_t>(cols));
  UnpackByteCodes(std::span<const uint8_t>(codes, PackedBytes(cols, o.bits)), o.bits, q);
  for (int64_t g0 = 0, gi = 0; g0 < cols; g0 += o.group_size, ++gi) {
    const int64_t n = std::min(o.group_size, cols - g0);
    const float d = LoadScalar(scales + gi * static_cast<int64_t>(DTypeSize(o.scale_dtype)), o.scale_dtype);
    const uint8_t* qg = q.data() + g0;
    float* og = out + g0;
    for (int64_t i = 0; i < n; ++i) og[i] = static_cast<float>(static_cast<int>(qg[i]) - half) * d;
  }
}

}  // namespace rtn_internal

namespace {

const ParamTable<RtnOptions>& Table() {
  static const ParamTable<RtnOptions> kTable(
      "rtn",
      {
          IntParam("bits", &RtnOptions::bits, 2, 8, "bits per code"),
          IntParam("group_size", &RtnOptions::group_size, 1, int64_t{1} << 30,
                   "weights per scale; the last group of a row may be shorter"),
          ChoiceParam("scale_dtype", &RtnOptions::scale_dtype, {{"f16", DType::kF16}, {"f32", DType::kF32}},
                      "storage type of the per-group scales"),
      });
  return kTable;
}

}  // namespace

StatusOr<RtnOptions> RtnOptions::FromParams(const Params& p) { return Table().Read(p); }

Params RtnOptions::ToParams() const { return Table().Write(*this); }

namespace {

class Rtn final : public Method {
 public:
  std::string_view name() const override { return "rtn"; }
  std::string_view summary() const override {
    return "round-to-nearest per group, symmetric abs-max over all 2^b levels (the baseline)";
  }
  std::span<const ParamSpec> param_specs() const override { return Table().specs(); }
  Status CheckParams(const Params& user) const override { return Table().Read(user).status(); }
  CudaEncoder cuda_encoder() const override { return QUANTD_CUDA_ENCODER(rtn_cuda::Encode); }

  StatusOr<Params> Resolve(const Params& user, int64_t cols) const override {
    QUANTD_ASSIGN_OR_RETURN(RtnOptions o, RtnOptions::FromParams(user));
    return o.ToParams();
  }

  StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) const override {
    QUANTD_ASSIGN_OR_RETURN(RtnOptions o, RtnOptions::FromParams(resolved));
    const int64_t row_bytes = static_cast<int64_t>(PackedBytes(in.cols, o.bits));
    const int64_t groups = o.groups_per_row(in.cols);
    const int64_t scale_bytes = groups * static_cast<int64_t>(DTypeSize(o.scale_dtype));
    Encoding enc;
    enc.sections.push_back(Section::Zeros("codes", DType::kU8, {in.rows, row_bytes}));
    enc.sections.push_back(Section::Zeros("scales", o.scale_dtype, {in.rows, groups}));
    uint8_t* codes = enc.sections[0].data.data();
    uint8_t* scales = enc.sections[1].data.data();
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / in.cols);
    // The first row (lowest index) whose scale overflowed, whatever the thread schedule.
    std::atomic<int64_t> bad_row{INT64_MAX};
    ParallelFor(0, in.rows, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        if (!rtn_internal::EncodeRowFast(in.row(r), in.cols, o, codes + r * row_bytes,
                                         scales + r * scale_bytes)) {
          int64_t seen = bad_row.load();
          while (r < seen && !bad_row.compare_exchange_weak(seen, r)) {
          }
        }
      }
    });
    if (bad_row.load() != INT64_MAX) {
      return InvalidArgumentError("row " + std::to_string(in.row_begin + bad_row.load()) +
                                  " has values too large for f16 scales (|x| > 65504 * 2^(bits-1)); "
                                  "use scale_dtype=f32");
    }
    return enc;
  }

  Status Decode(const Encoding& enc, std::span<float> out) const override {
    QUANTD_ASSIGN_OR_RETURN(RtnOptions o, RtnOptions::FromParams(enc.params));
    const int64_t rows = enc.rows();
    const int64_t row_bytes = static_cast<int64_t>(PackedBytes(enc.cols, o.bits));
    const int64_t groups = o.groups_per_row(enc.cols);
    const int64_t scale_bytes = groups * static_cast<int64_t>(DTypeSize(o.scale_dtype));
    const int64_t codes_shape[] = {rows, row_bytes};
    const int64_t scales_shape[] = {rows, groups};
    QUANTD_ASSIGN_OR_RETURN(const Section* codes, enc.Require("codes", DType::kU8, codes_shape));
    QUANTD_ASSIGN_OR_RETURN(const Section* scales, enc.Require("scales", o.scale_dtype, scales_shape));
    QUANTD_RETURN_IF_ERROR(RequireFiniteValues(*scales));
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / enc.cols);
    ParallelFor(0, rows, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        rtn_internal::DecodeRowFast(codes->data.data() + r * row_bytes, scales->data.data() + r * scale_bytes,
                                    enc.cols, o, out.data() + r * enc.cols);
      }
    });
    return OkStatus();
  }
};

}  // namespace

const Method& RtnMethod() {
  static const Rtn kRtn;
  return kRtn;
}

}  // namespace quantd
