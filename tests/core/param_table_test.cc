// ParamTable: reading, writing and range checks from one declaration; and docs/FORMAT.md's
// parameter tables, which must be what the methods' tables print (QUANTD_UPDATE_DOCS=1 rewrites
// them).
#include "quantd/core/param_table.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "quantd/core/method.h"
#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

enum class Color { kRed, kBlue };

struct Options {
  int64_t count = 3;
  double ratio = 0.5;
  double open = 0.25;
  bool flag = false;
  Color color = Color::kBlue;
  int automatic = 0;

  friend bool operator==(const Options&, const Options&) = default;
};

const ParamTable<Options>& Table() {
  static const ParamTable<Options> t(
      "demo",
      {
          IntParam("count", &Options::count, 1, 10, "a count"),
          DoubleParam("ratio", &Options::ratio, 0, 1, "a ratio"),
          DoubleParam("open", &Options::open, 0, 1, "strictly inside", /*open=*/true),
          BoolParam("flag", &Options::flag, "a flag"),
          ChoiceParam("color", &Options::color, {{"red", Color::kRed}, {"blue", Color::kBlue}}, "a color"),
          Derived(IntParam("automatic", &Options::automatic, 0, int64_t{1} << 62, "0: chosen")),
      },
      [](const Options& o) -> Status {
        return o.flag && o.count > 5 ? InvalidArgumentError("flag needs count <= 5") : OkStatus();
      });
  return t;
}

TEST(ParamTableTest, DefaultsComeFromTheOptionsStruct) {
  const auto specs = Table().specs();
  ASSERT_EQ(specs.size(), 6u);
  EXPECT_EQ(specs[0].default_value, "3");
  EXPECT_EQ(specs[0].range, "1..10");
  EXPECT_EQ(specs[1].default_value, "0.5");
  EXPECT_EQ(specs[2].range, "(0, 1)");
  EXPECT_EQ(specs[3].default_value, "false");
  EXPECT_EQ(specs[4].default_value, "blue");
  EXPECT_EQ(specs[4].range, "red|blue");
  EXPECT_EQ(specs[5].range, ">= 0");
  EXPECT_TRUE(specs[5].derived);
  EXPECT_EQ(ParamTypeName(specs[4].type), "enum");
}

TEST(ParamTableTest, ReadAndWriteRoundTrip) {
  auto o = Table().Read({{"count", "7"}, {"color", "red"}, {"ratio", "0.125"}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->count, 7);
  EXPECT_EQ(o->color, Color::kRed);
  EXPECT_EQ(o->ratio, 0.125);
  EXPECT_FALSE(o->flag);
  const Params p = Table().Write(*o);
  EXPECT_EQ(p.ToString(), "automatic=0,color=red,count=7,flag=false,open=0.25,ratio=0.125");
  EXPECT_EQ(*Table().Read(p), *o);
}

TEST(ParamTableTest, ErrorsNameTheKey) {
  EXPECT_THAT(Table().Read({{"cout", "1"}}),
              StatusIs(StatusCode::kInvalidArgument, "unknown parameter 'cout' for method demo"));
  EXPECT_THAT(Table().Read({{"count", "11"}}),
              StatusIs(StatusCode::kInvalidArgument, "'count' = 11 is out of range [1, 10]"));
  EXPECT_THAT(Table().Read({{"ratio", "x"}}),
              StatusIs(StatusCode::kInvalidArgument, "'ratio' must be a number"));
  EXPECT_THAT(Table().Read({{"open", "1"}}),
              StatusIs(StatusCode::kInvalidArgument, "'open' = 1 must lie strictly between 0 and 1"));
  EXPECT_THAT(Table().Read({{"open", "0"}}), StatusIs(StatusCode::kInvalidArgument, "strictly between"));
  EXPECT_THAT(Table().Read({{"flag", "yes"}}),
              StatusIs(StatusCode::kInvalidArgument, "'flag' must be true or false"));
  EXPECT_THAT(Table().Read({{"color", "green"}}),
              StatusIs(StatusCode::kInvalidArgument, "'color' = 'green' is not one of red, blue"));
  EXPECT_THAT(Table().Read({{"flag", "true"}, {"count", "6"}}),
              StatusIs(StatusCode::kInvalidArgument, "flag needs count <= 5"));
}

TEST(ParamTableTest, MarkdownEscapesChoices) {
  const std::string md = ParamTableMarkdown(Table().specs());
  EXPECT_NE(md.find("| `color` | enum | `blue` | red\\|blue | a color |"), std::string::npos) << md;
  EXPECT_NE(md.find("| `automatic` | int | `0` (chosen per tensor) | >= 0 | 0: chosen |"), std::string::npos)
      << md;
}

// docs/FORMAT.md holds each method's table between "<!-- params:NAME -->" and "<!-- /params -->",
// exactly as ParamTableMarkdown prints it.
TEST(ParamTableTest, FormatDocumentPrintsEveryMethodsTable) {
  const std::string path = "docs/FORMAT.md";  // tests run from the source tree
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  const std::string original = doc;
  const bool update = std::getenv("QUANTD_UPDATE_DOCS") != nullptr;
  for (const Method* m : AllMethods()) {
    const std::string open = "<!-- params:" + std::string(m->name()) + " -->\n";
    const std::string close = "<!-- /params -->";
    const size_t a = doc.find(open);
    ASSERT_NE(a, std::string::npos) << path << " has no " << open;
    const size_t b = doc.find(close, a);
    ASSERT_NE(b, std::string::npos);
    const std::string want = ParamTableMarkdown(m->param_specs());
    const std::string have = doc.substr(a + open.size(), b - a - open.size());
    if (update) {
      doc.replace(a + open.size(), b - a - open.size(), want);
    } else {
      EXPECT_EQ(have, want) << m->name() << ": the table in " << path
                            << " is stale; rerun this test with QUANTD_UPDATE_DOCS=1 to rewrite it";
    }
  }
  if (update && doc != original) std::ofstream(path) << doc;
}

}  // namespace
}  // namespace quantd
