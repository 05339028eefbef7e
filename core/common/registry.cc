// The registry of methods. Adding a method means adding its entry to kMethods below (and its
// folder under core/, which core/CMakeLists.txt picks up).
#include <string>

#include "core/crossquant/crossquant.h"
#include "core/kashin/kashin.h"
#include "core/pvq/pvq.h"
#include "core/rtn/rtn.h"
#include "quantd/core/method.h"

namespace quantd {
namespace {

std::span<const Method* const> Methods() {
  static const Method* const kMethods[] = {
      &RtnMethod(),
      &KashinMethod(),
      &PvqMethod(),
      &CrossQuantMethod(),
  };
  return kMethods;
}

}  // namespace

std::span<const Method* const> AllMethods() { return Methods(); }

const Method* FindMethod(std::string_view name) {
  for (const Method* m : Methods()) {
    if (m->name() == name) return m;
  }
  return nullptr;
}

StatusOr<const Method*> RequireMethod(std::string_view name) {
  if (const Method* m = FindMethod(name)) return m;
  std::string list;
  for (const Method* m : Methods()) {
    if (!list.empty()) list += ", ";
    list += m->name();
  }
  return InvalidArgumentError("unknown method '" + std::string(name) + "' (known: " + list + ")");
}

std::string_view CalibrationKindName(CalibrationKind kind) {
  switch (kind) {
    case CalibrationKind::kNone:
      return "none";
    case CalibrationKind::kHessian:
      return "hessian";
    case CalibrationKind::kColumnMax:
      return "column_max";
  }
  return "none";
}

std::span<const float> CalibrationData(const Calibration& calibration, CalibrationKind kind) {
  switch (kind) {
    case CalibrationKind::kHessian:
      return calibration.hessian;
    case CalibrationKind::kColumnMax:
      return calibration.column_max;
    case CalibrationKind::kNone:
      break;
  }
  return {};
}

}  // namespace quantd
