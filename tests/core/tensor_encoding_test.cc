#include "quantd/core/tensor_encoding.h"

#include <gtest/gtest.h>

#include <vector>

#include "quantd/core/quantize.h"
#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

std::vector<Encoding> EncodeInBlocks(const std::vector<float>& w, std::vector<int64_t> shape,
                                     int64_t block_rows, const Params& params) {
  const int64_t cols = shape.back();
  const int64_t rows = static_cast<int64_t>(w.size()) / cols;
  std::vector<Encoding> out;
  for (int64_t r = 0; r < rows; r += block_rows) {
    const int64_t n = std::min(block_rows, rows - r);
    Chunk b{.tensor_name = "t",
            .shape = shape,
            .row_begin = r,
            .rows = n,
            .cols = cols,
            .data = std::span<const float>(w.data() + r * cols, n * cols)};
    auto e = EncodeRows(b, "rtn", params);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    out.push_back(std::move(*e));
  }
  return out;
}

TEST(TensorEncodingTest, FlattenSplitRoundTripIsExact) {
  const std::vector<int64_t> shape = {10, 48};
  auto w = testing::Gaussian(480, 1);
  auto slices = EncodeInBlocks(w, shape, 3, {{"bits", "3"}, {"group_size", "16"}});
  ASSERT_EQ(slices.size(), 4u);
  auto flat = FlattenSlices(slices);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(flat->section_names, (std::vector<std::string>{"codes", "scales"}));
  ASSERT_EQ(flat->sections.size(), 3u);
  EXPECT_EQ(flat->sections[0].shape, (std::vector<int64_t>{10, 18}));
  EXPECT_EQ(flat->sections[2].shape, (std::vector<int64_t>{4, 4}));
  auto back = SplitSlices(*flat);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    Encoding expect = slices[i];
    expect.stats.clear();  // stats are summarised, not split
    EXPECT_EQ((*back)[i], expect) << i;
  }
}

// RTN's sections are per row, so the flat form does not depend on how rows were blocked.
TEST(TensorEncodingTest, PerRowSectionsIndependentOfBlocking) {
  const std::vector<int64_t> shape = {12, 40};
  auto w = testing::Gaussian(480, 2);
  const Params p{{"bits", "4"}, {"group_size", "32"}};
  auto a = FlattenSlices(EncodeInBlocks(w, shape, 12, p));
  auto b = FlattenSlices(EncodeInBlocks(w, shape, 5, p));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sections[0], b->sections[0]);
  EXPECT_EQ(a->sections[1], b->sections[1]);
}

TEST(TensorEncodingTest, FlattenRejectsGapsAndMismatches) {
  const std::vector<int64_t> shape = {6, 8};
  auto w = testing::Gaussian(48, 3);
  auto slices = EncodeInBlocks(w, shape, 2, {{"bits", "4"}});
  auto missing = slices;
  missing.erase(missing.begin() + 1);
  EXPECT_THAT(FlattenSlices(missing), StatusIs(StatusCode::kInvalidArgument, "does not continue at row 2"));
  auto short_cover = slices;
  short_cover.pop_back();
  EXPECT_THAT(FlattenSlices(short_cover), StatusIs(StatusCode::kInvalidArgument, "cover rows 0..4"));
  auto other = slices;
  other[1].params.Set("bits", "5");
  EXPECT_THAT(FlattenSlices(other), StatusIs(StatusCode::kInvalidArgument, "differs from slice 0"));
  EXPECT_FALSE(FlattenSlices({}).ok());
}

TEST(TensorEncodingTest, SplitRejectsCorruptIndex) {
  const std::vector<int64_t> shape = {6, 8};
  auto w = testing::Gaussian(48, 4);
  auto flat = FlattenSlices(EncodeInBlocks(w, shape, 2, {{"bits", "4"}}));
  ASSERT_TRUE(flat.ok());
  {
    auto bad = *flat;
    bad.sections.back().mutable_view<int64_t>()[2] = 1000;  // slice 0 claims 1000 code rows
    EXPECT_THAT(SplitSlices(bad), StatusIs(StatusCode::kInvalidArgument, "overruns section 'codes'"));
  }
  {
    auto bad = *flat;
    bad.sections.back().mutable_view<int64_t>()[1] = 3;  // row ranges overlap
    EXPECT_THAT(SplitSlices(bad), StatusIs(StatusCode::kInvalidArgument, "does not continue"));
  }
  {
    auto bad = *flat;
    bad.sections.back().mutable_view<int64_t>()[2] = -5;
    EXPECT_FALSE(SplitSlices(bad).ok());
  }
  {
    auto bad = *flat;
    bad.sections[0].data.pop_back();
    EXPECT_THAT(SplitSlices(bad), StatusIs(StatusCode::kInvalidArgument, "bytes"));
  }
  {
    auto bad = *flat;
    bad.sections.pop_back();
    EXPECT_FALSE(SplitSlices(bad).ok());
  }
}

}  // namespace
}  // namespace quantd
