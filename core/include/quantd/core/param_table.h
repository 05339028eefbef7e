// File: param_table.h
//
// `quantd::ParamTable<Options>`: a method's parameters declared once, as one table bound to the
// fields of its options struct. Everything else that knows about parameters derives from it:
//
// - parsing and range checks (Read), and the complete record an encoding keeps (Write);
// - `quantctl quantize --help` and its flags, GetInfo's method list, the proto conversion
//   (protobuf reflection over the typed message whose field names are these names), and the
//   parameter tables of docs/FORMAT.md (ParamTableMarkdown, checked by a test).
//
// A parameter's default is the value of its field in a default-constructed `Options`, so the
// default lives next to the field it sets; the table adds the name, range and help:
//
//   struct RtnOptions {
//     int bits = 4;
//     DType scale_dtype = DType::kF16;
//   };
//   const ParamTable<RtnOptions> kTable("rtn", {
//       IntParam("bits", &RtnOptions::bits, 2, 8, "bits per code"),
//       ChoiceParam("scale_dtype", &RtnOptions::scale_dtype, {{"f16", DType::kF16}, {"f32", DType::kF32}},
//                   "storage type of the per-group scales"),
//   });
//   QUANTD_ASSIGN_OR_RETURN(RtnOptions o, kTable.Read(params));   // INVALID_ARGUMENT names the key
//   Params recorded = kTable.Write(o);                              // every value, defaults included
#ifndef QUANTD_CORE_PARAM_TABLE_H_
#define QUANTD_CORE_PARAM_TABLE_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quantd/core/params.h"
#include "quantd/core/status.h"

namespace quantd {

enum class ParamType { kInt, kDouble, kBool, kChoice };

// "int", "double", "bool", "enum" (the names GetInfo and --help show).
std::string_view ParamTypeName(ParamType type);

// One parameter as users see it.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kInt;
  std::string default_value;  // as an encoding records it ("4", "f16", "0.001", "false")
  std::string range;          // "2..8", ">= 0", "(0, 1)", "f16|f32", "true|false"
  std::string help;
  // The default asks the method to choose the value for the tensor (Resolve records the choice).
  bool derived = false;
};

// A markdown table (name, type, default, range, meaning) of `specs`, one row per parameter.
std::string ParamTableMarkdown(std::span<const ParamSpec> specs);

// One row of a ParamTable: its spec plus how to read it into, and write it from, an Options.
template <typename Options>
struct ParamField {
  ParamSpec spec;
  std::function<Status(const Params&, Options&)> read;
  std::function<void(const Options&, Params&)> write;
};

template <typename Options>
class ParamTable {
 public:
  // `check` (optional) validates combinations of values after every field was read.
  ParamTable(std::string_view method, std::initializer_list<ParamField<Options>> fields,
             std::function<Status(const Options&)> check = nullptr)
      : method_(method), fields_(fields), check_(std::move(check)) {
    for (const auto& f : fields_) {
      names_.insert(f.spec.name);
      specs_.push_back(f.spec);
    }
  }

  // The options `p` describes: absent keys take their defaults; an unknown key, a value that
  // does not parse or lies outside its range, or a failed `check` is INVALID_ARGUMENT naming it.
  StatusOr<Options> Read(const Params& p) const {
    QUANTD_RETURN_IF_ERROR(p.CheckKnown(method_, names_));
    Options o;
    for (const auto& f : fields_) QUANTD_RETURN_IF_ERROR(f.read(p, o));
    if (check_) QUANTD_RETURN_IF_ERROR(check_(o));
    return o;
  }

  // Every parameter of `o`, as an encoding records it.
  Params Write(const Options& o) const {
    Params p;
    for (const auto& f : fields_) f.write(o, p);
    return p;
  }

  std::span<const ParamSpec> specs() const { return specs_; }
  std::string_view method() const { return method_; }

 private:
  std::string method_;
  std::vector<ParamField<Options>> fields_;
  std::function<Status(const Options&)> check_;
  std::set<std::string, std::less<>> names_;
  std::vector<ParamSpec> specs_;
};

namespace param_table_internal {

std::string IntRange(int64_t lo, int64_t hi);
std::string DoubleRange(double lo, double hi, bool open);
Status OpenIntervalError(std::string_view key, double value, double lo, double hi);

}  // namespace param_table_internal

// An integer field (any integer member type) in [lo, hi].
template <typename Options, typename T>
ParamField<Options> IntParam(std::string name, T Options::*member, int64_t lo, int64_t hi, std::string help) {
  const int64_t def = static_cast<int64_t>(Options{}.*member);
  ParamField<Options> f;
  f.spec = {name, ParamType::kInt, std::to_string(def), param_table_internal::IntRange(lo, hi),
            std::move(help)};
  f.read = [name, member, def, lo, hi](const Params& p, Options& o) -> Status {
    QUANTD_ASSIGN_OR_RETURN(int64_t v, p.GetInt(name, def, lo, hi));
    o.*member = static_cast<T>(v);
    return OkStatus();
  };
  f.write = [name, member](const Options& o, Params& p) { p.SetInt(name, static_cast<int64_t>(o.*member)); };
  return f;
}

// A floating-point field in [lo, hi], or in (lo, hi) when `open`.
template <typename Options>
ParamField<Options> DoubleParam(std::string name, double Options::*member, double lo, double hi,
                                std::string help, bool open = false) {
  const double def = Options{}.*member;
  ParamField<Options> f;
  f.spec = {name, ParamType::kDouble, FormatDouble(def), param_table_internal::DoubleRange(lo, hi, open),
            std::move(help)};
  f.read = [name, member, def, lo, hi, open](const Params& p, Options& o) -> Status {
    if (open) {
      QUANTD_ASSIGN_OR_RETURN(double v, p.GetDouble(name, def, std::numeric_limits<double>::lowest(),
                                                    std::numeric_limits<double>::max()));
      if (!(v > lo && v < hi)) return param_table_internal::OpenIntervalError(name, v, lo, hi);
      o.*member = v;
    } else {
      QUANTD_ASSIGN_OR_RETURN(o.*member, p.GetDouble(name, def, lo, hi));
    }
    return OkStatus();
  };
  f.write = [name, member](const Options& o, Params& p) { p.SetDouble(name, o.*member); };
  return f;
}

// A true/false field.
template <typename Options>
ParamField<Options> BoolParam(std::string name, bool Options::*member, std::string help) {
  const bool def = Options{}.*member;
  ParamField<Options> f;
  f.spec = {name, ParamType::kBool, def ? "true" : "false", "true|false", std::move(help)};
  f.read = [name, member, def](const Params& p, Options& o) -> Status {
    QUANTD_ASSIGN_OR_RETURN(o.*member, p.GetBool(name, def));
    return OkStatus();
  };
  f.write = [name, member](const Options& o, Params& p) { p.SetBool(name, o.*member); };
  return f;
}

// A field that takes one of a fixed set of named values. The default must be one of them.
template <typename Options, typename T>
ParamField<Options> ChoiceParam(std::string name, T Options::*member,
                                std::vector<std::pair<std::string, T>> choices, std::string help) {
  const T def = Options{}.*member;
  std::string def_name, range;
  for (const auto& [n, v] : choices) {
    if (v == def) def_name = n;
    range += (range.empty() ? "" : "|") + n;
  }
  ParamField<Options> f;
  f.spec = {name, ParamType::kChoice, def_name, range, std::move(help)};
  f.read = [name, member, choices, def_name](const Params& p, Options& o) -> Status {
    const std::string v = p.GetString(name, def_name);
    std::string list;
    for (const auto& [n, value] : choices) {
      if (n == v) {
        o.*member = value;
        return OkStatus();
      }
      list += (list.empty() ? "" : ", ") + n;
    }
    return InvalidArgumentError("parameter '" + name + "' = '" + v + "' is not one of " + list);
  };
  f.write = [name, member, choices](const Options& o, Params& p) {
    for (const auto& [n, value] : choices) {
      if (value == o.*member) {
        p.Set(name, n);
        return;
      }
    }
  };
  return f;
}

// `field`, with its default marking "chosen by the method in Resolve" (PVQ's k = 0, say).
template <typename Options>
ParamField<Options> Derived(ParamField<Options> field) {
  field.spec.derived = true;
  return field;
}

}  // namespace quantd

#endif  // QUANTD_CORE_PARAM_TABLE_H_
