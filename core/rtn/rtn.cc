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
  bool ChecksFiniteInput() const override { return true; }
  // Codes are within [-2^7, 2^7) and a finite F16 scale within 65504: products stay finite. F32
  // scales can overflow (FLT_MAX times a code) and are checked by DecodeRows.
  bool DecodesFiniteOnly(const Params& resolved) const override {
    auto o = RtnOptions::FromParams(resolved);
    return o.ok() && o->scale_dtype == DType::kF16;
  }

  StatusOr<Params> Resolve(const Params& user, int64_t cols) const override {
    QUANTD_ASSIGN_OR_RETURN(RtnOptions o, RtnOptions::FromParams(user));
    return o.ToParams();
  }

  StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) const override {
    return EncodeImpl(in, resolved, nullptr);
  }

  // Each row is decoded again while its codes and values are in cache and measured with
  // ComputeErrorSums, then the rows' sums are added in row order: ComputeBlockErrorSums' bits.
  bool MeasuresWhileEncoding(const Params&) const override { return true; }
  StatusOr<Encoding> EncodeMeasured(const Chunk& in, const Params& resolved, ErrorSums* sums) const override {
    return EncodeImpl(in, resolved, sums);
  }

 private:
  StatusOr<Encoding> EncodeImpl(const Chunk& in, const Params& resolved, ErrorSums* sums) const {
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
    // Whether a row holds a non-finite value (EncodeRows then names the first one), and the first
    // row (lowest index) whose scale overflowed, whatever the thread schedule.
    std::atomic<bool> input_not_finite{false};
    std::atomic<int64_t> bad_scale_row{INT64_MAX};
    auto note = [](std::atomic<int64_t>& first, int64_t r) {
      int64_t seen = first.load();
      while (r < seen && !first.compare_exchange_weak(seen, r)) {
      }
    };
    std::vector<ErrorSums> row_sums(sums != nullptr ? static_cast<size_t>(in.rows) : 0);
    ParallelFor(0, in.rows, grain, [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> decoded;
      if (sums != nullptr && decoded.size() < static_cast<size_t>(in.cols))
        decoded.resize(static_cast<size_t>(in.cols));
      for (int64_t r = r0; r < r1; ++r) {
        const int flags = rtn_internal::EncodeRow(Isa::kAuto, in.row(r), in.cols, o, codes + r * row_bytes,
                                                  scales + r * scale_bytes);
        if (flags & rtn_internal::kRowInputNotFinite) input_not_finite = true;
        if (flags & rtn_internal::kRowScaleNotFinite) note(bad_scale_row, r);
        if (sums != nullptr && flags == rtn_internal::kRowOk) {
          rtn_internal::DecodeRow(Isa::kAuto, codes + r * row_bytes, scales + r * scale_bytes, in.cols, o,
                                  decoded.data());
          row_sums[r] =
              ComputeErrorSums(std::span<const float>(in.row(r), static_cast<size_t>(in.cols)),
                               std::span<const float>(decoded.data(), static_cast<size_t>(in.cols)));
        }
      }
    });
    if (input_not_finite) return InvalidArgumentError("non-finite input value");
    if (bad_scale_row.load() != INT64_MAX) {
      return InvalidArgumentError("row " + std::to_string(in.row_begin + bad_scale_row.load()) +
                                  " has values too large for f16 scales (|x| > 65504 * 2^(bits-1)); "
                                  "use scale_dtype=f32");
    }
    if (sums != nullptr) {
      *sums = {};
      for (const ErrorSums& r : row_sums) sums->Add(r);
    }
    return enc;
  }

 public:
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
        rtn_internal::DecodeRow(Isa::kAuto, codes->data.data() + r * row_bytes,
                                scales->data.data() + r * scale_bytes, enc.cols, o,
                                out.data() + r * enc.cols);
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
