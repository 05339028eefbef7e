#include "core/crossquant/crossquant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/common/bitpack.h"
#include "core/common/cuda_encoder.h"
#include "core/common/parallel.h"
#include "core/crossquant/crossquant_cuda.h"

namespace quantd {
namespace crossquant_internal {
namespace {

// The quantizing and decoding passes run fixed tasks of RowGrain rows, so that per-task results
// combine in a fixed order whatever the thread count.
int64_t RowGrain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 16) / cols); }
int64_t RowTasks(int64_t rows, int64_t cols) { return (rows + RowGrain(cols) - 1) / RowGrain(cols); }

// Calls body(task, row, scratch) for every row, in parallel over the RowTasks tasks; `scratch` is
// a per-thread buffer of cols bytes.
template <typename Body>
void ForEachRow(int64_t rows, int64_t cols, const Body& body) {
  const int64_t grain = RowGrain(cols);
  ParallelFor(0, RowTasks(rows, cols), 1, [&](int64_t k0, int64_t k1) {
    thread_local std::vector<uint8_t> scratch;
    scratch.resize(static_cast<size_t>(cols));
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t i = k * grain; i < std::min(rows, (k + 1) * grain); ++i) body(k, i, scratch);
    }
  });
}

float Stored(float m, DType dtype) { return dtype == DType::kF16 ? F16ToFloat(FloatToF16(m)) : m; }

// Pass 1 (dynamic columns): t_i and c_j of the block, rounded to scale_dtype. The block is cut
// into tiles of rb row blocks by cs column stripes; each tile keeps the column maxima of its row
// block (rb x cols floats, at most 1/16 of the input beyond c itself) and the row maxima of its
// stripe (cs x rows floats), combined afterwards. max is exact, so the result depends on neither
// the tiling nor the thread count.
void ComputeMaxima(Isa isa, const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
                   Block* out) {
  constexpr int64_t kTiles = 64;
  const int64_t rb = std::clamp<int64_t>(rows / 16, 1, kTiles);
  const int64_t cs = std::clamp<int64_t>(kTiles / rb, 1, (cols + 1023) / 1024);
  const int64_t block_rows = (rows + rb - 1) / rb, stripe_cols = (cols + cs - 1) / cs;
  std::vector<float> part_c(static_cast<size_t>(rb * cols), 0.0f), part_t(static_cast<size_t>(cs * rows));
  ParallelFor(0, rb * cs, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t b = k / cs, c = k % cs;
      const int64_t j0 = c * stripe_cols, n = std::min(cols, j0 + stripe_cols) - j0;
      for (int64_t i = b * block_rows; i < std::min(rows, (b + 1) * block_rows); ++i) {
        part_t[c * rows + i] =
            n > 0 ? RowAbsMax(isa, x + i * cols + j0, n, part_c.data() + b * cols + j0) : 0;
      }
    }
  });
  out->row_max.resize(static_cast<size_t>(rows));
  out->col_max.resize(static_cast<size_t>(cols));
  for (int64_t i = 0; i < rows; ++i) {
    float m = 0;
    for (int64_t c = 0; c < cs; ++c) m = std::max(m, part_t[c * rows + i]);
    out->row_max[i] = Stored(m, o.scale_dtype);
  }
  ParallelFor(0, cols, 1 << 14, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      float m = 0;
      for (int64_t b = 0; b < rb; ++b) m = std::max(m, part_c[b * cols + j]);
      out->col_max[j] = Stored(m, o.scale_dtype);
    }
  });
}

bool AllFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float f) { return std::isfinite(f); });
}

}  // namespace

float RowFactor(float t, const CrossQuantOptions& o) {
  return static_cast<float>(std::pow(static_cast<double>(t), o.alpha) / o.qmax());
}

float ColFactor(float c, const CrossQuantOptions& o) {
  return static_cast<float>(std::pow(static_cast<double>(c), 1.0 - o.alpha));
}

bool StepsFinite(std::span<const float> row_max, std::span<const float> col_max, const CrossQuantOptions& o) {
  if (row_max.empty() || col_max.empty()) return true;
  const float t = *std::max_element(row_max.begin(), row_max.end());
  const float c = *std::max_element(col_max.begin(), col_max.end());
  return std::isfinite(RowFactor(t, o) * ColFactor(c, o));
}

bool EncodeFast(const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
                const float* static_col_max, Block* out, Isa isa) {
  isa = ResolveIsa(isa);
  const bool fused = o.static_columns;  // c is known: t_i is taken just before row i is quantized
  if (fused) {
    out->col_max.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) out->col_max[j] = Stored(static_col_max[j], o.scale_dtype);
    out->row_max.assign(static_cast<size_t>(rows), 0.0f);
  } else {
    ComputeMaxima(isa, x, rows, cols, o, out);
    if (!AllFinite(out->row_max)) return false;
  }
  if (!AllFinite(out->col_max)) return false;
  std::vector<float> v(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) v[j] = ColFactor(out->col_max[j], o);
  const std::vector<float> inv_v = ReciprocalsUsable(v) ? Reciprocals(v) : std::vector<float>();

  const int qmax = o.qmax();
  const size_t row_bytes = PackedBytes(cols, o.bits);
  out->codes.resize(rows * row_bytes);
  const int64_t tasks = RowTasks(rows, cols);
  std::vector<KernelCounts> task_counts(static_cast<size_t>(tasks));
  std::vector<uint8_t> task_finite(static_cast<size_t>(tasks), 1);
  ForEachRow(rows, cols, [&](int64_t k, int64_t i, std::vector<uint8_t>& q) {
    const float* xi = x + i * cols;
    if (fused) out->row_max[i] = Stored(RowAbsMax(isa, xi, cols, nullptr), o.scale_dtype);
    const float t = out->row_max[i];
    if (!std::isfinite(t)) {
      task_finite[k] = 0;
      return;
    }
    const float s = RowFactor(t, o);
    const float step = t / static_cast<float>(qmax);
    const float per_token_step = step == 0 ? std::numeric_limits<float>::infinity() : step;
    uint8_t* dst = out->codes.data() + i * row_bytes;
    // At 8 bits the byte codes are the packed row.
    uint8_t* qi = o.bits == 8 ? dst : q.data();
    QuantizeRow(isa, xi, cols, s, v.data(), inv_v.empty() ? nullptr : inv_v.data(), o.static_columns,
                per_token_step, qmax, qi, &task_counts[k]);
    if (o.bits != 8) PackByteCodes(q, o.bits, std::span<uint8_t>(dst, row_bytes));
  });
  // An infinite step would decode to NaN; it takes maxima within an ulp or two of FLT_MAX.
  if (std::find(task_finite.begin(), task_finite.end(), 0) != task_finite.end() ||
      !StepsFinite(out->row_max, out->col_max, o)) {
    return false;
  }
  out->counts = {};
  for (const KernelCounts& c : task_counts) out->counts.Add(c);
  return true;
}

bool DecodeFast(const uint8_t* codes, const float* row_max, const float* col_max, int64_t rows, int64_t cols,
                const CrossQuantOptions& o, float* out, Isa isa) {
  isa = ResolveIsa(isa);
  std::vector<float> s(static_cast<size_t>(rows)), v(static_cast<size_t>(cols));
  for (int64_t i = 0; i < rows; ++i) s[i] = RowFactor(row_max[i], o);
  for (int64_t j = 0; j < cols; ++j) v[j] = ColFactor(col_max[j], o);
  const int qmax = o.qmax();
  const size_t row_bytes = PackedBytes(cols, o.bits);
  std::vector<uint8_t> task_ok(static_cast<size_t>(RowTasks(rows, cols)), 1);
  ForEachRow(rows, cols, [&](int64_t k, int64_t i, std::vector<uint8_t>& q) {
    const uint8_t* qi = codes + i * row_bytes;
    if (o.bits != 8) {
      UnpackByteCodes(std::span<const uint8_t>(qi, row_bytes), o.bits, q);
      qi = q.data();
    }
    if (!DecodeRow(isa, qi, cols, s[i], v.data(), qmax, out + i * cols)) task_ok[k] = 0;
  });
  return std::find(task_ok.begin(), task_ok.end(), 0) == task_ok.end();
}

StatusOr<const float*> StaticColumns(const Chunk& in, const CrossQuantOptions& o) {
  const bool have_cal = in.calibration != nullptr && !in.calibration->column_max.empty();
  if (o.static_columns && !have_cal) {
    return InvalidArgumentError("static_columns=true needs calibration column maxima (column_max)");
  }
  if (!o.static_columns && have_cal) {
    return InvalidArgumentError(
        "calibration column maxima were supplied but static_columns=false; "
        "set static_columns=true to use them");
  }
  return have_cal ? in.calibration->column_max.data() : nullptr;
}

Status OverflowError(const CrossQuantOptions& o) {
  return InvalidArgumentError(o.scale_dtype == DType::kF16
                                  ? "a row or column maximum overflows f16 (from 65520 up it rounds to "
                                    "infinity); use scale_dtype=f32"
                                  : "values within a few ulps of the float maximum give an infinite step");
}

StatusOr<Encoding> ToEncoding(Block&& b, int64_t rows, int64_t cols, const CrossQuantOptions& o) {
  Encoding enc;
  Section codes;
  codes.name = "codes";
  codes.dtype = DType::kU8;
  codes.shape = {rows, static_cast<int64_t>(PackedBytes(cols, o.bits))};
  codes.data = std::move(b.codes);
  enc.sections.push_back(std::move(codes));
  enc.sections.push_back(Section::Zeros("row_max", o.scale_dtype, {rows}));
  enc.sections.push_back(Section::Zeros("col_max", o.scale_dtype, {1, cols}));
  QUANTD_RETURN_IF_ERROR(ConvertFromFloat(b.row_max, o.scale_dtype, enc.sections[1].data));
  QUANTD_RETURN_IF_ERROR(ConvertFromFloat(b.col_max, o.scale_dtype, enc.sections[2].data));
  enc.stats["nonzero_count"] = static_cast<double>(b.counts.nonzero);
  enc.stats["kernel_count"] = static_cast<double>(b.counts.kernel);
  enc.stats["per_token_kernel_count"] = static_cast<double>(b.counts.per_token_kernel);
  enc.stats["clamp_count"] = static_cast<double>(b.counts.clamp);
  return enc;
}

}  // namespace crossquant_internal

namespace {

const ParamTable<CrossQuantOptions>& Table() {
  static const ParamTable<CrossQuantOptions> kTable(
      "crossquant",
      {
          IntParam("bits", &CrossQuantOptions::bits, 2, 8,
                   "bits per code (codes in [-(2^(b-1)-1), 2^(b-1)-1])"),
          DoubleParam("alpha", &CrossQuantOptions::alpha, 0.0, 1.0,
                      "row exponent: 1 is per-token (per-row), 0 per-column"),
          ChoiceParam("scale_dtype", &CrossQuantOptions::scale_dtype,
                      {{"f32", DType::kF32}, {"f16", DType::kF16}},
                      "storage type of the row and column maxima"),
          BoolParam("static_columns", &CrossQuantOptions::static_columns,
                    "take the column maxima from calibration (column_max) instead of the chunk's rows"),
      });
  return kTable;
}

}  // namespace

StatusOr<CrossQuantOptions> CrossQuantOptions::FromParams(const Params& p) { return Table().Read(p); }

Params CrossQuantOptions::ToParams() const { return Table().Write(*this); }

namespace {

// The maxima of an untrusted encoding as floats; DATA_LOSS unless finite and >= 0 (the encoder
// stores nothing else, so anything else is corruption).
StatusOr<std::vector<float>> LoadMaxima(const Section& s, std::string_view what) {
  std::vector<float> m(static_cast<size_t>(s.num_elements()));
  QUANTD_RETURN_IF_ERROR(ConvertToFloat(s.dtype, s.data, m));
  for (size_t i = 0; i < m.size(); ++i) {
    if (!std::isfinite(m[i]) || m[i] < 0) {
      return DataLossError("crossquant section '" + s.name + "' " + std::string(what) + " " +
                           std::to_string(i) + " is " + std::to_string(m[i]) +
                           "; maxima must be finite and >= 0");
    }
  }
  return m;
}

class CrossQuant final : public Method {
 public:
  std::string_view name() const override { return "crossquant"; }
  std::string_view summary() const override {
    return "per-element step t_i^alpha * c_j^(1-alpha) / (2^(b-1)-1) from row and column abs-maxima; "
           "reports the quantization kernel against per-token";
  }
  std::span<const ParamSpec> param_specs() const override { return Table().specs(); }
  Status CheckParams(const Params& user) const override { return Table().Read(user).status(); }
  CalibrationUse calibration() const override { return {CalibrationKind::kColumnMax, "static_columns"}; }
  CudaEncoder cuda_encoder() const override { return QUANTD_CUDA_ENCODER(crossquant_cuda::Encode); }
  // Its maxima pass flags rows with Inf or NaN (RowAbsMax).
  bool ChecksFiniteInput() const override { return true; }

  StatusOr<Params> Resolve(const Params& user, int64_t cols) const override {
    QUANTD_ASSIGN_OR_RETURN(CrossQuantOptions o, CrossQuantOptions::FromParams(user));
    return o.ToParams();
  }

  StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) const override {
    QUANTD_ASSIGN_OR_RETURN(CrossQuantOptions o, CrossQuantOptions::FromParams(resolved));
    QUANTD_ASSIGN_OR_RETURN(const float* static_col_max, crossquant_internal::StaticColumns(in, o));
    crossquant_internal::Block b;
    // A row holding Inf or NaN has an infinite maximum, so the block fails like an overflowing
    // one (ChecksFiniteInput: EncodeRows then names the value).
    if (!crossquant_internal::EncodeFast(in.data.data(), in.rows, in.cols, o, static_col_max, &b)) {
      return crossquant_internal::OverflowError(o);
    }
    return crossquant_internal::ToEncoding(std::move(b), in.rows, in.cols, o);
  }

  Status Decode(const Encoding& enc, std::span<float> out) const override {
    QUANTD_ASSIGN_OR_RETURN(CrossQuantOptions o, CrossQuantOptions::FromParams(enc.params));
    const int64_t rows = enc.rows();
    const int64_t codes_shape[] = {rows, static_cast<int64_t>(PackedBytes(enc.cols, o.bits))};
    const int64_t row_shape[] = {rows};
    const int64_t col_shape[] = {1, enc.cols};
    QUANTD_ASSIGN_OR_RETURN(const Section* codes, enc.Require("codes", DType::kU8, codes_shape));
    QUANTD_ASSIGN_OR_RETURN(const Section* rs, enc.Require("row_max", o.scale_dtype, row_shape));
    QUANTD_ASSIGN_OR_RETURN(const Section* cs, enc.Require("col_max", o.scale_dtype, col_shape));
    QUANTD_ASSIGN_OR_RETURN(std::vector<float> t, LoadMaxima(*rs, "row"));
    QUANTD_ASSIGN_OR_RETURN(std::vector<float> c, LoadMaxima(*cs, "column"));
    if (!crossquant_internal::StepsFinite(t, c, o)) {
      return InvalidArgumentError(
          "crossquant maxima give an infinite step (row and column maxima near "
          "the float maximum)");
    }
    if (!crossquant_internal::DecodeFast(codes->data.data(), t.data(), c.data(), rows, enc.cols, o,
                                         out.data())) {
      return InvalidArgumentError(
          "crossquant section 'codes' holds the value 0 (-2^(bits-1)), outside "
          "the symmetric code range");
    }
    return OkStatus();
  }
};

}  // namespace

const Method& CrossQuantMethod() {
  static const CrossQuant kCrossQuant;
  return kCrossQuant;
}

}  // namespace quantd
