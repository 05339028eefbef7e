// File: params.h
//
// `quantd::Params`: the parameters of one encoding, as an ordered map of names to strings.
//
// Methods read typed values from it and write back every value they used, defaults included,
// so that an Encoding records its parameters completely ("nothing implicit"). Strings keep the
// map language- and transport-neutral: it is stored verbatim in the checkpoint metadata and in
// the RPC messages. Numbers are written in their shortest round-trip form.
#ifndef QUANTD_CORE_PARAMS_H_
#define QUANTD_CORE_PARAMS_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "quantd/core/status.h"

namespace quantd {

class Params {
 public:
  Params() = default;
  Params(std::initializer_list<std::pair<const std::string, std::string>> init) : values_(init) {}

  void Set(std::string_view key, std::string value) { values_[std::string(key)] = std::move(value); }
  void SetInt(std::string_view key, int64_t value);
  void SetDouble(std::string_view key, double value);
  void SetBool(std::string_view key, bool value) { Set(key, value ? "true" : "false"); }

  bool Has(std::string_view key) const { return values_.find(std::string(key)) != values_.end(); }
  void Erase(std::string_view key) { values_.erase(std::string(key)); }

  // Typed getters: the stored value parsed, or `fallback` when the key is absent. A value that
  // does not parse, or lies outside [lo, hi], is an INVALID_ARGUMENT naming the key.
  StatusOr<int64_t> GetInt(std::string_view key, int64_t fallback, int64_t lo, int64_t hi) const;
  StatusOr<double> GetDouble(std::string_view key, double fallback, double lo, double hi) const;
  StatusOr<bool> GetBool(std::string_view key, bool fallback) const;
  // One of `allowed`, or INVALID_ARGUMENT listing them.
  StatusOr<std::string> GetEnum(std::string_view key, std::string_view fallback,
                                std::initializer_list<std::string_view> allowed) const;
  std::string GetString(std::string_view key, std::string_view fallback) const;

  // INVALID_ARGUMENT naming the first key not in `known` (for typo detection).
  Status CheckKnown(std::string_view method, const std::set<std::string, std::less<>>& known) const;

  const std::map<std::string, std::string>& entries() const { return values_; }
  size_t size() const { return values_.size(); }
  // "bits=4,group_size=128"
  std::string ToString() const;
  // Parses "k=v,k=v" (the CLI's --param and --override syntax). Empty string gives empty Params.
  static StatusOr<Params> Parse(std::string_view text);

  friend bool operator==(const Params& a, const Params& b) { return a.values_ == b.values_; }

 private:
  std::map<std::string, std::string> values_;
};

// Shortest decimal string that parses back to exactly `value`.
std::string FormatDouble(double value);

}  // namespace quantd

#endif  // QUANTD_CORE_PARAMS_H_
