#include "core/pvq/pvq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "core/common/cuda_encoder.h"
#include "core/common/hadamard.h"
#include "core/common/parallel.h"
#include "core/pvq/pvq_cuda.h"
#include "core/pvq/pvq_search_impl.h"

namespace quantd {
namespace pvq_internal {
namespace {

// Bit stream writer and reader with the layout of bitpack.h (LSB first), moving up to 64 bits
// per call instead of one byte: the per-group cost of decoding stays small next to the
// enumeration.
class FastBitWriter {
 public:
  explicit FastBitWriter(uint8_t* out) : out_(out) {}
  // Appends the low `bits` (0..64) bits of v. The destination must be zeroed.
  void Put(uint64_t v, int bits) {
    if (bits == 0) return;
    if (bits < 64) v &= (uint64_t{1} << bits) - 1;
    const size_t byte = pos_ >> 3;
    const int off = static_cast<int>(pos_ & 7);
    const unsigned __int128 x = static_cast<unsigned __int128>(v) << off;
    const int n = (off + bits + 7) >> 3;
    for (int i = 0; i < n; ++i) out_[byte + static_cast<size_t>(i)] |= static_cast<uint8_t>(x >> (8 * i));
    pos_ += static_cast<size_t>(bits);
  }

 private:
  uint8_t* out_;
  size_t pos_ = 0;
};

class FastBitReader {
 public:
  FastBitReader(const uint8_t* in, size_t size) : in_(in), size_(size) {}
  // Reads `bits` (0..64) bits; bits past the end read as zero.
  uint64_t Get(int bits) {
    if (bits == 0) return 0;
    const size_t byte = pos_ >> 3;
    const int off = static_cast<int>(pos_ & 7);
    unsigned __int128 x = 0;
    if (byte + 16 <= size_) {
      memcpy(&x, in_ + byte, 16);  // little-endian host, as everywhere in quantd
    } else {
      const size_t n = static_cast<size_t>((off + bits + 7) >> 3);
      for (size_t i = 0; i < n && byte + i < size_; ++i)
        x |= static_cast<unsigned __int128>(in_[byte + i]) << (8 * i);
    }
    uint64_t v = static_cast<uint64_t>(x >> off);
    if (bits < 64) v &= (uint64_t{1} << bits) - 1;
    pos_ += static_cast<size_t>(bits);
    return v;
  }

 private:
  const uint8_t* in_;
  size_t size_;
  size_t pos_ = 0;
};

template <int W>
void PutIndex(FastBitWriter& w, const BigUint<W>& index, int bits) {
  for (int i = 0; 64 * i < bits; ++i) w.Put(index.w[i], std::min(64, bits - 64 * i));
}

template <int W>
BigUint<W> GetIndex(FastBitReader& r, int bits) {
  BigUint<W> index = BigUint<W>::Zero();
  for (int i = 0; 64 * i < bits; ++i) index.w[i] = r.Get(std::min(64, bits - 64 * i));
  return index;
}

}  // namespace

int DefaultGainBits(double bits) {
  return static_cast<int>(std::min(8.0, std::max(4.0, std::floor(bits + 0.5))));
}

double PvqLayout::BitsPerWeight() const {
  return static_cast<double>(8 * (row_bytes + scale_bytes)) / static_cast<double>(cols);
}

namespace {

// Pulses of the shorter last group: the density of a full group, rounded half up, at least one.
int TailPulses(int k, int tail, int group_size) {
  return static_cast<int>(std::max<int64_t>(1, (int64_t{k} * tail + group_size / 2) / group_size));
}

// The layout of k pulses per full group, given the index bits of the full and last groups.
PvqLayout ComposeLayout(const PvqOptions& o, int64_t cols, int k, int index_bits, int tail_index_bits) {
  PvqLayout lay;
  lay.cols = cols;
  lay.group_size = o.group_size;
  lay.full_groups = cols / o.group_size;
  lay.tail = static_cast<int>(cols % o.group_size);
  lay.k = k;
  lay.tail_k = lay.tail > 0 ? TailPulses(k, lay.tail, o.group_size) : 0;
  lay.index_bits = lay.full_groups > 0 ? index_bits : 0;
  lay.tail_index_bits = lay.tail > 0 ? tail_index_bits : 0;
  lay.gain_bits = lay.groups() > 1 ? o.gain_bits : 0;
  lay.row_bits = lay.full_groups * (lay.gain_bits + lay.index_bits) +
                 (lay.tail > 0 ? lay.gain_bits + lay.tail_index_bits : 0);
  lay.row_bytes = (lay.row_bits + 7) / 8;
  lay.scale_bytes = static_cast<int>(DTypeSize(o.scale_dtype));
  lay.table_dim = lay.full_groups > 0 ? o.group_size : lay.tail;
  lay.table_k = lay.full_groups > 0 ? k : lay.tail_k;
  return lay;
}

}  // namespace

StatusOr<PvqLayout> MakeLayout(const PvqOptions& o, int64_t cols) {
  if (o.rotate && cols > (int64_t{1} << 30)) {
    return InvalidArgumentError("rows of " + std::to_string(cols) +
                                " weights are too long for rotation=hadamard (at most 2^30)");
  }
  const int tail = static_cast<int>(cols % o.group_size);
  const int main_bits = cols >= o.group_size ? PyramidIndexBits(o.group_size, o.k) : 0;
  const int tail_bits = tail > 0 ? PyramidIndexBits(tail, TailPulses(o.k, tail, o.group_size)) : 0;
  if (main_bits < 0 || tail_bits < 0) {
    return InvalidArgumentError("k=" + std::to_string(o.k) +
                                " with group_size=" + std::to_string(o.group_size) +
                                " needs indices of more than " + std::to_string(kMaxIndexBits) +
                                " bits; lower 'k' (or 'bits') or 'group_size'");
  }
  PvqLayout lay = ComposeLayout(o, cols, o.k, main_bits, tail_bits);
  const uint64_t table =
      PyramidTableBytes(lay.table_dim, lay.table_k, lay.full_groups > 0 ? main_bits : tail_bits);
  if (table > kMaxPyramidTableBytes) {
    return InvalidArgumentError(
        "k=" + std::to_string(o.k) + " with group_size=" + std::to_string(o.group_size) +
        " needs a counting table of " + std::to_string(table >> 20) + " MiB, above the " +
        std::to_string(kMaxPyramidTableBytes >> 20) + " MiB limit; lower 'k' (or 'bits') or 'group_size'");
  }
  return lay;
}

StatusOr<int> ChooseK(const PvqOptions& o, int64_t cols) {
  using Key = std::tuple<double, int, int, int, int64_t>;
  static std::mutex mu;
  static std::map<Key, int> cache;  // small: one entry per distinct (options, cols) in use
  const Key key{o.bits, o.group_size, o.gain_bits, static_cast<int>(o.scale_dtype), cols};
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  // bpw(k) is non-decreasing in k: scan the index bits of (D, k) and (tail, tail_k(k)) over a
  // doubling range of k until the budget or the widest index is exceeded.
  const int tail = static_cast<int>(cols % o.group_size);
  const int dim = cols >= o.group_size ? o.group_size : tail;  // the largest group
  int best = 0;
  bool over = false;
  for (int kmax = 64; !over && kmax <= (1 << 16); kmax *= 2) {
    const std::vector<int> bits = PyramidIndexBitsTable(dim, kmax);
    auto index_bits = [&](int l, int k) {
      return bits[static_cast<size_t>(l - 1) * static_cast<size_t>(kmax + 1) + static_cast<size_t>(k)];
    };
    for (int k = best + 1; k <= kmax && !over; ++k) {
      const int main_bits = cols >= o.group_size ? index_bits(o.group_size, k) : 0;
      const int tail_bits = tail > 0 ? index_bits(tail, TailPulses(k, tail, o.group_size)) : 0;
      over = main_bits < 0 || tail_bits < 0 ||
             ComposeLayout(o, cols, k, main_bits, tail_bits).BitsPerWeight() > o.bits ||
             PyramidTableBytes(dim, k, cols >= o.group_size ? main_bits : tail_bits) > kMaxPyramidTableBytes;
      if (!over) best = k;
    }
  }
  if (best == 0) {
    PvqOptions one = o;
    one.k = 1;
    auto lay = MakeLayout(one, cols);
    return InvalidArgumentError(
        "'bits' = " + FormatDouble(o.bits) + " is below the smallest PVQ layout for group_size=" +
        std::to_string(o.group_size) + " and rows of " + std::to_string(cols) +
        (lay.ok() ? " (k=1 needs " + FormatDouble(lay->BitsPerWeight()) + " bits per weight)" : ""));
  }
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() > 256) cache.clear();
  cache[key] = best;
  return best;
}

std::span<const float> RowCodec::LevelsOf(int64_t g) const {
  if (layout.gain_bits == 0) return {};
  if (layout.tail > 0 && g + 1 == layout.groups()) return *tail_levels;
  return *levels;
}

StatusOr<RowCodec> MakeRowCodec(const PvqOptions& o, int64_t cols) {
  RowCodec c;
  QUANTD_ASSIGN_OR_RETURN(c.layout, MakeLayout(o, cols));
  c.table = GetPyramidTable(c.layout.table_dim, c.layout.table_k);
  if (c.layout.gain_bits > 0) {
    if (c.layout.full_groups > 0)
      c.levels = GetGainCodebook(o.group_size, cols, o.gain_bits, o.gain_codebook);
    if (c.layout.tail > 0) c.tail_levels = GetGainCodebook(c.layout.tail, cols, o.gain_bits, o.gain_codebook);
  }
  c.search = o.search;
  c.scale_dtype = o.scale_dtype;
  return c;
}

RowStats SearchRow(const float* x, const RowCodec& c, int32_t* p, double* fitted) {
  RowStats st;
  int64_t col = 0;
  for (int64_t g = 0; g < c.layout.groups(); ++g) {
    const int len = c.layout.GroupLength(g);
    const SearchResult r = SearchPyramid(x + col, len, c.layout.GroupPulses(g), c.search, p + col);
    fitted[g] = FittedGain(r);
    st.hull_evals += r.hull_evals;
    st.improved_groups += r.improved;
    col += len;
  }
  return st;
}

void PackRowFast(const int32_t* p, const uint8_t* gain_codes, const RowCodec& c, uint8_t* out) {
  const PvqLayout& lay = c.layout;
  DispatchWords(c.table->words(), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    FastBitWriter w(out);
    int64_t col = 0;
    for (int64_t g = 0; g < lay.groups(); ++g) {
      const int len = lay.GroupLength(g);
      w.Put(gain_codes[g], lay.gain_bits);
      PutIndex<W>(w, EncodePyramid<W>(*c.table, p + col, len, lay.GroupPulses(g)), lay.GroupIndexBits(g));
      col += len;
    }
  });
}

bool UnpackRowFast(const uint8_t* in, const RowCodec& c, int32_t* p, uint8_t* gain_codes) {
  const PvqLayout& lay = c.layout;
  return DispatchWords(c.table->words(), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    FastBitReader r(in, static_cast<size_t>(lay.row_bytes));
    int64_t col = 0;
    for (int64_t g = 0; g < lay.groups(); ++g) {
      const int len = lay.GroupLength(g);
      gain_codes[g] = static_cast<uint8_t>(r.Get(lay.gain_bits));
      if (!DecodePyramid<W>(*c.table, GetIndex<W>(r, lay.GroupIndexBits(g)), len, lay.GroupPulses(g),
                            p + col)) {
        return false;
      }
      col += len;
    }
    return true;
  });
}

bool DecodeRotatedRowFast(const uint8_t* stream, float scale, const RowCodec& c, float* out) {
  const PvqLayout& lay = c.layout;
  return DispatchWords(c.table->words(), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    FastBitReader r(stream, static_cast<size_t>(lay.row_bytes));
    int32_t p[kMaxGroupSize];
    int64_t col = 0;
    for (int64_t g = 0; g < lay.groups(); ++g) {
      const int len = lay.GroupLength(g);
      const uint8_t code = static_cast<uint8_t>(r.Get(lay.gain_bits));
      if (!DecodePyramid<W>(*c.table, GetIndex<W>(r, lay.GroupIndexBits(g)), len, lay.GroupPulses(g), p)) {
        return false;
      }
      ReconstructGroup(p, len, scale, c.LevelsOf(g), code, out + col);
      col += len;
    }
    return true;
  });
}

RowStats EncodeRotatedRow(const float* x, const RowCodec& c, float* scale, uint8_t* stream) {
  thread_local std::vector<int32_t> p;
  thread_local std::vector<double> fitted;
  thread_local std::vector<uint8_t> codes;
  const int64_t groups = c.layout.groups();
  p.resize(static_cast<size_t>(c.layout.cols));
  fitted.resize(static_cast<size_t>(groups));
  codes.assign(static_cast<size_t>(groups), 0);
  const RowStats st = SearchRow(x, c, p.data(), fitted.data());
  const std::span<const float> levels =
      c.levels ? std::span<const float>(*c.levels) : std::span<const float>();
  const std::span<const float> tail =
      c.tail_levels ? std::span<const float>(*c.tail_levels) : std::span<const float>();
  *scale = FitRowGains(fitted, levels, tail, c.scale_dtype,
                       c.layout.gain_bits > 0 ? std::span<uint8_t>(codes) : std::span<uint8_t>());
  PackRowFast(p.data(), codes.data(), c, stream);
  return st;
}

}  // namespace pvq_internal

using pvq_internal::GainCodebook;
using pvq_internal::SearchMode;

namespace {

const ParamTable<PvqOptions>& Table() {
  static const ParamTable<PvqOptions> kTable(
      "pvq",
      {
          DoubleParam("bits", &PvqOptions::bits, 0.25, 32,
                      "target bits per weight (everything but the recorded parameters); chooses k when k=0"),
          Derived(
              IntParam("k", &PvqOptions::k, 0, 1 << 16,
                       "pulses per group; 0: the largest k within 'bits' (the resolved value is recorded); "
                       "overrides 'bits' when set")),
          IntParam("group_size", &PvqOptions::group_size, 2, pvq_internal::kMaxGroupSize,
                   "weights per group (the last group of a row may be shorter)"),
          Derived(IntParam(
              "gain_bits", &PvqOptions::gain_bits, 0, 8,
              "bits per group amplitude code; 0: max(4, round(bits)) (4 up to 4.5 bits per weight)")),
          ChoiceParam("gain_codebook", &PvqOptions::gain_codebook,
                      {{"lloyd", GainCodebook::kLloydMax}, {"quantile", GainCodebook::kQuantile}},
                      "amplitude levels: Lloyd-Max or quantiles of the Beta(D/2, (n-D)/2) law"),
          ChoiceParam("scale_dtype", &PvqOptions::scale_dtype, {{"f16", DType::kF16}, {"f32", DType::kF32}},
                      "storage type of the per-row scale"),
          IntParam("seed", &PvqOptions::seed, 0, INT64_MAX, "seed of the randomized Hadamard rotation"),
          ChoiceParam("rotation", &PvqOptions::rotate, {{"hadamard", true}, {"none", false}},
                      "coherence processing of each row before quantization"),
          ChoiceParam("search", &PvqOptions::search,
                      {{"exact", SearchMode::kExact}, {"greedy", SearchMode::kGreedy}},
                      "pyramid search: exact (hull search) or Opus-style greedy"),
          BoolParam(
              "use_hessian", &PvqOptions::hessian,
              "Hessian-aware (GPTQ-style) encoding with the calibration Hessian (which must be supplied)"),
          DoubleParam("damp", &PvqOptions::damp, 0, 100, "Hessian dampening, relative to its mean diagonal"),
      });
  return kTable;
}

}  // namespace

StatusOr<PvqOptions> PvqOptions::FromParams(const Params& p) { return Table().Read(p); }

Params PvqOptions::ToParams() const { return Table().Write(*this); }

namespace pvq_internal {

StatusOr<PvqOptions> ResolvedOptions(const Params& resolved) {
  QUANTD_ASSIGN_OR_RETURN(PvqOptions o, PvqOptions::FromParams(resolved));
  if (o.k == 0 || o.gain_bits == 0)
    return InvalidArgumentError("pvq: parameters are not resolved (k=0 or gain_bits=0)");
  return o;
}

Status CheckEncodeInput(const PvqOptions& o, const Chunk& in) {
  const bool have_hessian = in.calibration != nullptr && !in.calibration->hessian.empty();
  if (o.hessian && !have_hessian) {
    return InvalidArgumentError("use_hessian=true but no Hessian was supplied with the tensor");
  }
  if (!o.hessian && have_hessian) {
    return InvalidArgumentError(
        "a Hessian was supplied but use_hessian=false; set use_hessian=true to use it");
  }
  return OkStatus();
}

Status StoreRowScales(std::span<const float> row_scale, int64_t row_begin, DType dtype, uint8_t* scales) {
  for (size_t r = 0; r < row_scale.size(); ++r) {
    const float s = row_scale[r];
    if (!std::isfinite(s)) {
      return InvalidArgumentError("row " + std::to_string(row_begin + static_cast<int64_t>(r)) +
                                  " is too large for an f16 scale (norm > 65504); use scale_dtype=f32");
    }
    if (dtype == DType::kF16) {
      const uint16_t h = FloatToF16(s);
      memcpy(scales + 2 * r, &h, 2);
    } else {
      memcpy(scales + 4 * r, &s, 4);
    }
  }
  return OkStatus();
}

void SetStats(const PvqOptions& o, const RowStats& total, Encoding& enc) {
  if (o.search != SearchMode::kExact) return;
  enc.stats["search_hull_evals"] = static_cast<double>(total.hull_evals);
  enc.stats["search_improved_groups"] = static_cast<double>(total.improved_groups);
}

}  // namespace pvq_internal

namespace {

// Rows per parallel task: about 64K weights.
int64_t Grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 16) / cols); }

class Pvq final : public Method {
 public:
  std::string_view name() const override { return "pvq"; }
  std::string_view summary() const override {
    return "pyramid vector quantization: Hadamard-rotated rows, groups coded as gain x pyramid direction "
           "(Fischer index), Beta-distributed gain codebooks, optional Hessian-aware (GPTQ-style) encoder";
  }
  std::span<const ParamSpec> param_specs() const override { return Table().specs(); }
  Status CheckParams(const Params& user) const override { return Table().Read(user).status(); }
  CalibrationUse calibration() const override { return {CalibrationKind::kHessian, "use_hessian"}; }
  std::map<std::string, uint64_t> limits() const override {
    return {{"max_table_bytes", pvq_internal::kMaxPyramidTableBytes},
            {"max_cached_table_bytes", pvq_internal::kPyramidCacheBytes},
            {"max_index_bits", static_cast<uint64_t>(pvq_internal::kMaxIndexBits)}};
  }
  CudaEncoder cuda_encoder() const override { return QUANTD_CUDA_ENCODER(pvq_cuda::Encode); }

  StatusOr<Params> Resolve(const Params& user, int64_t cols) const override {
    QUANTD_ASSIGN_OR_RETURN(PvqOptions o, PvqOptions::FromParams(user));
    if (o.gain_bits == 0) o.gain_bits = pvq_internal::DefaultGainBits(o.bits);
    if (o.k == 0) {
      QUANTD_ASSIGN_OR_RETURN(o.k, pvq_internal::ChooseK(o, cols));
    } else {
      QUANTD_RETURN_IF_ERROR(pvq_internal::MakeLayout(o, cols).status());
    }
    return o.ToParams();
  }

  StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) const override {
    QUANTD_ASSIGN_OR_RETURN(PvqOptions o, pvq_internal::ResolvedOptions(resolved));
    QUANTD_ASSIGN_OR_RETURN(pvq_internal::RowCodec c, pvq_internal::MakeRowCodec(o, in.cols));
    QUANTD_RETURN_IF_ERROR(pvq_internal::CheckEncodeInput(o, in));
    std::shared_ptr<const pvq_internal::HessianFactor> factor;
    if (o.hessian) {
      QUANTD_ASSIGN_OR_RETURN(factor, pvq_internal::FactorHessian(in.calibration->hessian, in.cols, o));
    }
    const pvq_internal::PvqLayout& lay = c.layout;
    Encoding enc;
    enc.sections.push_back(Section::Zeros("scales", o.scale_dtype, {in.rows, 1}));
    enc.sections.push_back(Section::Zeros("codes", DType::kU8, {in.rows, lay.row_bytes}));
    uint8_t* scales = enc.sections[0].data.data();
    uint8_t* codes = enc.sections[1].data.data();
    std::vector<float> row_scale(static_cast<size_t>(in.rows));
    std::vector<pvq_internal::RowStats> stats(static_cast<size_t>(in.rows));
    const std::unique_ptr<RandomizedHadamard> rot =
        o.rotate ? std::make_unique<RandomizedHadamard>(in.cols, static_cast<uint64_t>(o.seed)) : nullptr;
    // Hessian sweeps work on blocks of rows so that each row of the factor is read once per
    // block; plain rows are independent.
    const int64_t grain = o.hessian ? 16 : Grain(in.cols);
    ParallelFor(0, in.rows, grain, [&](int64_t r0, int64_t r1) {
      std::vector<float> x(static_cast<size_t>((r1 - r0) * in.cols));
      for (int64_t r = r0; r < r1; ++r) {
        float* xr = x.data() + (r - r0) * in.cols;
        std::copy(in.row(r), in.row(r) + in.cols, xr);
        if (rot) rot->Forward(xr);
      }
      if (o.hessian) {
        pvq_internal::EncodeRotatedRowsHessian(x.data(), r1 - r0, c, *factor, row_scale.data() + r0,
                                               codes + r0 * lay.row_bytes, stats.data() + r0);
      } else {
        for (int64_t r = r0; r < r1; ++r) {
          stats[r] = pvq_internal::EncodeRotatedRow(x.data() + (r - r0) * in.cols, c, &row_scale[r],
                                                    codes + r * lay.row_bytes);
        }
      }
    });
    QUANTD_RETURN_IF_ERROR(pvq_internal::StoreRowScales(row_scale, in.row_begin, o.scale_dtype, scales));
    pvq_internal::RowStats total;
    for (int64_t r = 0; r < in.rows; ++r) {
      total.hull_evals += stats[r].hull_evals;
      total.improved_groups += stats[r].improved_groups;
    }
    pvq_internal::SetStats(o, total, enc);
    return enc;
  }

  Status Decode(const Encoding& enc, std::span<float> out) const override {
    QUANTD_ASSIGN_OR_RETURN(PvqOptions o, PvqOptions::FromParams(enc.params));
    if (o.k == 0 || o.gain_bits == 0) {
      return InvalidArgumentError("pvq: parameters 'k' and 'gain_bits' must be resolved (>= 1)");
    }
    QUANTD_ASSIGN_OR_RETURN(pvq_internal::RowCodec c, pvq_internal::MakeRowCodec(o, enc.cols));
    const pvq_internal::PvqLayout& lay = c.layout;
    const int64_t rows = enc.rows();
    const int64_t scales_shape[] = {rows, 1};
    const int64_t codes_shape[] = {rows, lay.row_bytes};
    QUANTD_ASSIGN_OR_RETURN(const Section* scales, enc.Require("scales", o.scale_dtype, scales_shape));
    QUANTD_ASSIGN_OR_RETURN(const Section* codes, enc.Require("codes", DType::kU8, codes_shape));
    const std::unique_ptr<RandomizedHadamard> rot =
        o.rotate ? std::make_unique<RandomizedHadamard>(enc.cols, static_cast<uint64_t>(o.seed)) : nullptr;
    // 0: fine, 1: non-finite scale, 2: an index out of range.
    std::vector<uint8_t> bad(static_cast<size_t>(rows), 0);
    ParallelFor(0, rows, Grain(enc.cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float s = LoadScalar(scales->data.data() + r * lay.scale_bytes, o.scale_dtype);
        float* row = out.data() + r * enc.cols;
        if (!std::isfinite(s)) {
          bad[r] = 1;
        } else if (!pvq_internal::DecodeRotatedRowFast(codes->data.data() + r * lay.row_bytes, s, c, row)) {
          bad[r] = 2;
        } else if (rot) {
          rot->Inverse(row);
        }
      }
    });
    for (int64_t r = 0; r < rows; ++r) {
      if (bad[r] == 1) {
        return DataLossError("section 'scales': row " + std::to_string(r) +
                             " is not finite: no encoder stores that, the encoding is corrupt");
      }
      if (bad[r] == 2) {
        return InvalidArgumentError("section 'codes': row " + std::to_string(r) +
                                    " holds a pyramid index beyond N(D, K)");
      }
    }
    return OkStatus();
  }
};

}  // namespace

const Method& PvqMethod() {
  static const Pvq kPvq;
  return kPvq;
}

}  // namespace quantd
