// The contract every registered method keeps, checked once for all of them: a well-formed
// parameter table, Resolve and CheckParams behaviour, round trips, determinism across thread
// counts, slices that flatten and split exactly, decoders that reject damage, non-finite input
// refused, and EncodeChunk reading every source dtype. A new method gets all of it by being
// registered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "quantd/core/method.h"
#include "quantd/core/quantize.h"
#include "quantd/core/tensor_encoding.h"
#include "tests/testing/test_util.h"
#if QUANTD_HAVE_TBB
#include <tbb/task_arena.h>
#endif

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

constexpr int64_t kRows = 24, kCols = 96;

class MethodContractTest : public ::testing::TestWithParam<const Method*> {
 protected:
  const Method& method() const { return *GetParam(); }
  std::string name() const { return std::string(method().name()); }
  // Gaussian weights of a kRows x kCols tensor (values of LLM-weight magnitude).
  static const std::vector<float>& Weights() {
    static const std::vector<float> w = testing::Gaussian(kRows * kCols, 7, 0.02f);
    return w;
  }
  Chunk Rows(const std::vector<float>& w, const std::vector<int64_t>& shape, int64_t begin,
             int64_t count) const {
    return Chunk{.tensor_name = "w",
                 .shape = shape,
                 .row_begin = begin,
                 .rows = count,
                 .cols = kCols,
                 .data = std::span<const float>(w.data() + begin * kCols, count * kCols)};
  }
  Encoding Whole() const {
    static const std::vector<int64_t> shape = {kRows, kCols};
    auto e = EncodeRows(Rows(Weights(), shape, 0, kRows), name(), {});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : Encoding{};
  }
};

TEST_P(MethodContractTest, ParameterTableIsWellFormed) {
  EXPECT_FALSE(method().summary().empty());
  ASSERT_FALSE(method().param_specs().empty());
  std::set<std::string> names;
  for (const ParamSpec& p : method().param_specs()) {
    EXPECT_TRUE(names.insert(p.name).second) << "duplicate parameter " << p.name;
    EXPECT_FALSE(p.help.empty()) << p.name;
    EXPECT_FALSE(p.range.empty()) << p.name;
    EXPECT_FALSE(p.default_value.empty()) << p.name;
    // The default is itself a valid value.
    EXPECT_TRUE(method().CheckParams({{p.name, p.default_value}}).ok()) << p.name;
  }
  QUANTD_EXPECT_OK(method().CheckParams({}));
}

// Resolving nothing gives exactly the table's parameters at their defaults (derived ones are
// chosen for the tensor), and resolving is idempotent: decoders re-resolve recorded parameters
// and require equality.
TEST_P(MethodContractTest, ResolveRecordsEveryParameter) {
  auto p = method().Resolve({}, kCols);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::set<std::string> recorded, declared;
  for (const auto& [k, v] : p->entries()) recorded.insert(k);
  for (const ParamSpec& spec : method().param_specs()) {
    declared.insert(spec.name);
    if (!spec.derived) {
      EXPECT_EQ(p->GetString(spec.name, "<absent>"), spec.default_value) << spec.name;
    }
  }
  EXPECT_EQ(recorded, declared);
  auto again = method().Resolve(*p, kCols);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *p);
}

// Bad values are refused before any work, naming the parameter: an unknown key, and for each
// parameter a value of the wrong kind.
TEST_P(MethodContractTest, CheckParamsNamesTheOffendingKey) {
  EXPECT_THAT(
      method().CheckParams({{"no_such_param", "1"}}),
      StatusIs(StatusCode::kInvalidArgument, "unknown parameter 'no_such_param' for method " + name()));
  for (const ParamSpec& spec : method().param_specs()) {
    const std::string bad =
        spec.type == quantd::ParamType::kBool ? "maybe" : "not-a-" + std::string(ParamTypeName(spec.type));
    EXPECT_THAT(method().CheckParams({{spec.name, bad}}),
                StatusIs(StatusCode::kInvalidArgument, "'" + spec.name + "'"))
        << spec.name;
  }
}

TEST_P(MethodContractTest, RoundTripIsCloseAndAccountedFor) {
  static const std::vector<int64_t> shape = {kRows, kCols};
  auto r = EncodeAndMeasure(Rows(Weights(), shape, 0, kRows), name(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Metrics m = MetricsFromSums(r->error, r->encoding.BitsPerWeight());
  EXPECT_GT(m.sqnr_db, 5.0);  // every method's defaults spend at least 3 bits per weight
  EXPECT_GT(r->encoding.BitsPerWeight(), 1.0);
  EXPECT_EQ(r->encoding.BitsPerWeight(), static_cast<double>(r->encoding.StorageBits()) / (kRows * kCols));
  auto a = DecodeRows(r->encoding);
  auto b = DecodeRows(r->encoding);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(0, std::memcmp(a->data(), b->data(), a->size() * 4));
  for (float v : *a) ASSERT_TRUE(std::isfinite(v));
}

TEST_P(MethodContractTest, SameBytesWhateverTheThreadCount) {
#if QUANTD_HAVE_TBB
  static const std::vector<int64_t> shape = {kRows, kCols};
  Encoding one, many;
  std::vector<float> d1, d4;
  tbb::task_arena(1).execute([&] { one = *EncodeRows(Rows(Weights(), shape, 0, kRows), name(), {}); });
  tbb::task_arena(4).execute([&] { many = *EncodeRows(Rows(Weights(), shape, 0, kRows), name(), {}); });
  EXPECT_EQ(one, many);
  tbb::task_arena(1).execute([&] { d1 = *DecodeRows(one); });
  tbb::task_arena(4).execute([&] { d4 = *DecodeRows(one); });
  EXPECT_EQ(0, std::memcmp(d1.data(), d4.data(), d1.size() * 4));
#else
  GTEST_SKIP() << "built without TBB";
#endif
}

// Chunks of one tensor are slices: flattened into the stored form and split back, they are the
// same bytes, and each decodes to its rows.
TEST_P(MethodContractTest, SlicesFlattenAndSplitExactly) {
  static const std::vector<int64_t> shape = {kRows, kCols};
  auto resolved = method().Resolve({}, kCols);
  ASSERT_TRUE(resolved.ok());
  if (!method().AllowsRowChunks(*resolved)) GTEST_SKIP() << "whole-tensor method";
  std::vector<Encoding> slices;
  for (auto [begin, count] : {std::pair<int64_t, int64_t>{0, 10}, {10, 14}}) {
    auto e = EncodeRows(Rows(Weights(), shape, begin, count), name(), {});
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    slices.push_back(std::move(*e));
  }
  auto flat = FlattenSlices(slices);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  auto back = SplitSlices(*flat);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    Encoding expect = slices[i];
    expect.stats.clear();  // stats are not stored per slice
    EXPECT_EQ((*back)[i], expect);
    auto decoded = DecodeRows((*back)[i]);
    EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
  }
}

// An encoding from an untrusted peer is checked before use: every kind of damage is
// INVALID_ARGUMENT, and random corruption of section bytes never crashes the decoder.
TEST_P(MethodContractTest, DecodeRejectsDamage) {
  const Encoding good = Whole();
  ASSERT_FALSE(good.sections.empty());
  for (size_t k = 0; k < good.sections.size(); ++k) {
    const std::string section = good.sections[k].name;
    if (good.sections[k].data.empty()) continue;
    {
      Encoding e = good;
      e.sections[k].data.pop_back();
      EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "")) << section;
    }
    {
      Encoding e = good;
      e.sections.erase(e.sections.begin() + static_cast<std::ptrdiff_t>(k));
      EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "")) << section;
    }
    {
      Encoding e = good;
      e.sections[k].dtype = e.sections[k].dtype == DType::kU8 ? DType::kI8 : DType::kU8;
      EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "")) << section;
    }
  }
  {
    Encoding e = good;
    e.params.Erase(method().param_specs().front().name);
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "incomplete"));
  }
  {
    Encoding e = good;
    e.method = "no_such_method";
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "unknown method"));
  }
  {
    Encoding e = good;
    e.row_end = kRows + 1;
    EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kInvalidArgument, "row range"));
  }
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    Encoding e = good;
    Section& s = e.sections[rng() % e.sections.size()];
    if (s.data.empty()) continue;
    for (int flips = 0; flips < 4; ++flips)
      s.data[rng() % s.data.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    auto d = DecodeRows(e);
    if (!d.ok()) {
      EXPECT_TRUE(d.status().code() == StatusCode::kInvalidArgument ||
                  d.status().code() == StatusCode::kDataLoss)
          << d.status().ToString();
    } else {
      // A decoder that accepts an encoding returns weights: never NaN or infinity.
      for (float v : *d) ASSERT_TRUE(std::isfinite(v)) << "trial " << trial << " decoded a non-finite weight";
    }
  }
}

// A non-finite value in any floating-point section (scales, codebooks, maxima) is corruption no
// encoder produces: DATA_LOSS, never NaN weights with OK.
TEST_P(MethodContractTest, NonFiniteStoredValuesAreDataLoss) {
  const Encoding good = Whole();
  int checked = 0;
  for (size_t k = 0; k < good.sections.size(); ++k) {
    const Section& s = good.sections[k];
    if (!(s.dtype == DType::kF16 || s.dtype == DType::kF32) || s.data.empty()) continue;
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
      Encoding e = good;
      StoreScalar(bad, s.dtype, e.sections[k].data.data());
      EXPECT_THAT(DecodeRows(e), StatusIs(StatusCode::kDataLoss, "'" + s.name + "'")) << s.name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// Finite stored values at the top of their dtype's range can overflow once combined (a scale
// near FLT_MAX times a code): the decoder must answer DATA_LOSS, or weights that are all finite.
TEST_P(MethodContractTest, HugeFiniteStoredValuesNeverDecodeToInfinity) {
  const Encoding good = Whole();
  for (size_t k = 0; k < good.sections.size(); ++k) {
    const Section& s = good.sections[k];
    if (!(s.dtype == DType::kF16 || s.dtype == DType::kF32) || s.data.empty()) continue;
    const float huge = s.dtype == DType::kF16 ? 65504.0f : std::numeric_limits<float>::max();
    Encoding e = good;
    const size_t n = e.sections[k].data.size() / DTypeSize(s.dtype);
    for (size_t i = 0; i < n; ++i)
      StoreScalar(huge, s.dtype, e.sections[k].data.data() + i * DTypeSize(s.dtype));
    auto d = DecodeRows(e);
    if (!d.ok()) {
      EXPECT_THAT(d.status(), StatusIs(StatusCode::kDataLoss, "non-finite weight")) << s.name;
    } else {
      for (float v : *d) ASSERT_TRUE(std::isfinite(v)) << s.name << " decoded a non-finite weight";
    }
  }
}

TEST_P(MethodContractTest, NonFiniteInputIsRefusedNamingIt) {
  static const std::vector<int64_t> shape = {kRows, kCols};
  std::vector<float> w = Weights();
  w[3 * kCols + 5] = std::nanf("");
  EXPECT_THAT(EncodeRows(Rows(w, shape, 0, kRows), name(), {}),
              StatusIs(StatusCode::kInvalidArgument, "tensor 'w': non-finite value nan at row 3, column 5"));
}

// A method's calibration switch is one of its boolean parameters, off by default.
TEST_P(MethodContractTest, CalibrationSwitchIsABooleanParameterOffByDefault) {
  const CalibrationUse use = method().calibration();
  if (use.kind == CalibrationKind::kNone) GTEST_SKIP() << "takes no calibration";
  bool found = false;
  for (const ParamSpec& p : method().param_specs()) {
    if (p.name != use.switch_param) continue;
    found = true;
    EXPECT_EQ(p.type, quantd::ParamType::kBool);
    EXPECT_EQ(p.default_value, "false");
  }
  EXPECT_TRUE(found) << use.switch_param;
}

// EncodeChunk widens F32, F16 and BF16 bytes exactly, reads aligned F32 in place and misaligned
// F32 through a copy, and gives the same encoding in every case (values exact in all three).
TEST_P(MethodContractTest, EncodeChunkReadsEverySourceDtype) {
  std::vector<float> w = Weights();
  for (float& v : w) v = std::fabs(v) < 1e-4f ? 0.0f : BF16ToFloat(FloatToBF16(v));
  const ChunkSpec base{.tensor = "w",
                       .shape = {kRows, kCols},
                       .row_begin = 0,
                       .row_count = kRows,
                       .method = name(),
                       .params = {}};
  std::vector<Encoding> encodings;
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    ChunkSpec spec = base;
    spec.dtype = dt;
    std::vector<uint8_t> bytes(w.size() * DTypeSize(dt) + 1);
    QUANTD_ASSERT_OK(ConvertFromFloat(w, dt, std::span<uint8_t>(bytes).first(bytes.size() - 1)));
    auto r = EncodeChunk(spec, std::span<const uint8_t>(bytes).first(bytes.size() - 1), nullptr, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    r->encoding.source_dtype = DType::kF32;
    encodings.push_back(r->encoding);
    if (dt == DType::kF32) {
      // The same bytes one byte off alignment.
      std::memmove(bytes.data() + 1, bytes.data(), bytes.size() - 1);
      auto shifted = EncodeChunk(spec, std::span<const uint8_t>(bytes).subspan(1), nullptr, {});
      ASSERT_TRUE(shifted.ok());
      EXPECT_EQ(shifted->encoding, r->encoding);
    }
  }
  ASSERT_EQ(encodings.size(), 3u);
  EXPECT_EQ(encodings[0], encodings[1]);
  EXPECT_EQ(encodings[0], encodings[2]);
  ChunkSpec wrong = base;
  EXPECT_THAT(EncodeChunk(wrong, std::vector<uint8_t>(10), nullptr, {}),
              StatusIs(StatusCode::kInvalidArgument, "10 data bytes, expected 9216"));
  wrong.dtype = DType::kI32;
  EXPECT_THAT(EncodeChunk(wrong, std::vector<uint8_t>(w.size() * 4), nullptr, {}),
              StatusIs(StatusCode::kInvalidArgument, "cannot be quantized"));
}

INSTANTIATE_TEST_SUITE_P(AllMethods, MethodContractTest,
                         ::testing::ValuesIn(AllMethods().begin(), AllMethods().end()),
                         [](const ::testing::TestParamInfo<const Method*>& info) {
                           return std::string(info.param->name());
                         });

}  // namespace
}  // namespace quantd
