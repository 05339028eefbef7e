#include "quantd/core/params.h"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace quantd {
namespace {

std::string Quote(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q.append(1, '\'').append(s).append(1, '\'');
  return q;
}

}  // namespace

std::string FormatDouble(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return std::to_string(value);
  return std::string(buf, end);
}

void Params::SetInt(std::string_view key, int64_t value) { Set(key, std::to_string(value)); }
void Params::SetDouble(std::string_view key, double value) { Set(key, FormatDouble(value)); }

StatusOr<int64_t> Params::GetInt(std::string_view key, int64_t fallback, int64_t lo, int64_t hi) const {
  auto it = values_.find(std::string(key));
  int64_t v = fallback;
  if (it != values_.end()) {
    const std::string& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
      return InvalidArgumentError("parameter " + Quote(key) + " must be an integer, got " + Quote(s));
    }
  }
  if (v < lo || v > hi) {
    return InvalidArgumentError("parameter " + Quote(key) + " = " + std::to_string(v) + " is out of range [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

StatusOr<double> Params::GetDouble(std::string_view key, double fallback, double lo, double hi) const {
  auto it = values_.find(std::string(key));
  double v = fallback;
  if (it != values_.end()) {
    const std::string& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
      return InvalidArgumentError("parameter " + Quote(key) + " must be a number, got " + Quote(s));
    }
  }
  if (!std::isfinite(v) || v < lo || v > hi) {
    return InvalidArgumentError("parameter " + Quote(key) + " = " + FormatDouble(v) + " is out of range [" +
                                FormatDouble(lo) + ", " + FormatDouble(hi) + "]");
  }
  return v;
}

StatusOr<bool> Params::GetBool(std::string_view key, bool fallback) const {
  auto it = values_.find(std::string(key));
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  return InvalidArgumentError("parameter " + Quote(key) + " must be true or false, got " + Quote(s));
}

StatusOr<std::string> Params::GetEnum(std::string_view key, std::string_view fallback,
                                      std::initializer_list<std::string_view> allowed) const {
  auto it = values_.find(std::string(key));
  std::string v = it == values_.end() ? std::string(fallback) : it->second;
  std::string list;
  for (std::string_view a : allowed) {
    if (a == v) return v;
    if (!list.empty()) list += ", ";
    list += a;
  }
  return InvalidArgumentError("parameter " + Quote(key) + " = " + Quote(v) + " is not one of " + list);
}

std::string Params::GetString(std::string_view key, std::string_view fallback) const {
  auto it = values_.find(std::string(key));
  return it == values_.end() ? std::string(fallback) : it->second;
}

Status Params::CheckKnown(std::string_view method, const std::set<std::string, std::less<>>& known) const {
  for (const auto& [k, v] : values_) {
    if (known.count(k) == 0) {
      std::string list;
      for (const auto& n : known) {
        if (!list.empty()) list += ", ";
        list += n;
      }
      return InvalidArgumentError("unknown parameter " + Quote(k) + " for method " + std::string(method) +
                                  " (known: " + list + ")");
    }
  }
  return OkStatus();
}

std::string Params::ToString() const {
  std::string s;
  for (const auto& [k, v] : values_) {
    if (!s.empty()) s += ",";
    s += k + "=" + v;
  }
  return s;
}

StatusOr<Params> Params::Parse(std::string_view text) {
  Params p;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return InvalidArgumentError("expected key=value, got " + Quote(item));
    }
    p.Set(item.substr(0, eq), std::string(item.substr(eq + 1)));
    pos = comma + 1;
  }
  return p;
}

}  // namespace quantd
