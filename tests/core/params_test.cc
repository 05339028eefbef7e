#include "quantd/core/params.h"

#include <gtest/gtest.h>

#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

TEST(ParamsTest, TypedGettersDefaultsAndRanges) {
  Params p{{"bits", "4"}, {"alpha", "0.15"}, {"flag", "true"}, {"mode", "rows"}};
  EXPECT_EQ(*p.GetInt("bits", 8, 2, 8), 4);
  EXPECT_EQ(*p.GetInt("missing", 8, 2, 8), 8);
  EXPECT_DOUBLE_EQ(*p.GetDouble("alpha", 1, 0, 1), 0.15);
  EXPECT_TRUE(*p.GetBool("flag", false));
  EXPECT_EQ(*p.GetEnum("mode", "rows", {"rows", "matrix"}), "rows");
  EXPECT_THAT(p.GetInt("bits", 8, 5, 8),
              StatusIs(StatusCode::kInvalidArgument, "'bits' = 4 is out of range [5, 8]"));
  EXPECT_THAT(p.GetEnum("mode", "rows", {"a", "b"}),
              StatusIs(StatusCode::kInvalidArgument, "not one of a, b"));
}

TEST(ParamsTest, RejectsMalformedNumbers) {
  Params p{{"bits", "4x"}, {"alpha", "nan"}, {"b", "maybe"}, {"e", ""}};
  EXPECT_THAT(p.GetInt("bits", 0, 0, 9), StatusIs(StatusCode::kInvalidArgument, "must be an integer"));
  EXPECT_THAT(p.GetDouble("alpha", 0, 0, 1), StatusIs(StatusCode::kInvalidArgument, "alpha"));
  EXPECT_THAT(p.GetBool("b", false), StatusIs(StatusCode::kInvalidArgument, "true or false"));
  EXPECT_THAT(p.GetInt("e", 0, 0, 9), StatusIs(StatusCode::kInvalidArgument, "must be an integer"));
}

TEST(ParamsTest, UnknownKeysNamed) {
  Params p{{"bitz", "4"}};
  EXPECT_THAT(p.CheckKnown("rtn", {"bits", "group_size"}),
              StatusIs(StatusCode::kInvalidArgument, "unknown parameter 'bitz' for method rtn"));
}

TEST(ParamsTest, ParseAndFormat) {
  auto p = Params::Parse("bits=4,group_size=64");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "bits=4,group_size=64");
  EXPECT_FALSE(Params::Parse("bits").ok());
  EXPECT_FALSE(Params::Parse("=4").ok());
  EXPECT_TRUE(Params::Parse("")->entries().empty());
  EXPECT_EQ(FormatDouble(0.15), "0.15");
  EXPECT_EQ(FormatDouble(1e-6), "1e-06");
  EXPECT_EQ(std::stod(FormatDouble(0.1 + 0.2)), 0.1 + 0.2);
}

}  // namespace
}  // namespace quantd
