#include "quantd/core/param_table.h"

#include <bit>

namespace quantd {

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kInt:
      return "int";
    case ParamType::kDouble:
      return "double";
    case ParamType::kBool:
      return "bool";
    case ParamType::kChoice:
      return "enum";
  }
  return "int";
}

std::string ParamTableMarkdown(std::span<const ParamSpec> specs) {
  std::string s = "| parameter | type | default | range | meaning |\n|---|---|---|---|---|\n";
  for (const ParamSpec& p : specs) {
    std::string range = p.range;
    // A '|' inside a table cell must be escaped.
    for (size_t i = 0; (i = range.find('|', i)) != std::string::npos; i += 2) range.replace(i, 1, "\\|");
    const std::string def = "`" + p.default_value + "`" + (p.derived ? " (chosen per tensor)" : "");
    s += "| `" + p.name + "` | " + std::string(ParamTypeName(p.type)) + " | " + def + " | " + range + " | " +
         p.help + " |\n";
  }
  return s;
}

namespace param_table_internal {

std::string IntRange(int64_t lo, int64_t hi) {
  if (hi >= (int64_t{1} << 62)) return ">= " + std::to_string(lo);
  const auto u = static_cast<uint64_t>(hi);
  if (hi >= (int64_t{1} << 20) && std::has_single_bit(u)) {
    return std::to_string(lo) + "..2^" + std::to_string(std::countr_zero(u));
  }
  return std::to_string(lo) + ".." + std::to_string(hi);
}

std::string DoubleRange(double lo, double hi, bool open) {
  if (open) return "(" + FormatDouble(lo) + ", " + FormatDouble(hi) + ")";
  return FormatDouble(lo) + ".." + FormatDouble(hi);
}

Status OpenIntervalError(std::string_view key, double value, double lo, double hi) {
  return InvalidArgumentError("parameter '" + std::string(key) + "' = " + FormatDouble(value) +
                              " must lie strictly between " + FormatDouble(lo) + " and " + FormatDouble(hi));
}

}  // namespace param_table_internal
}  // namespace quantd
