// The registry of methods. Adding a method means adding one line to kMethods below.
#include <array>
#include <string>

#include "crossquant/crossquant.h"
#include "kashin/kashin.h"
#include "pvq/pvq.h"
#include "quantd/core/method.h"
#include "rtn/rtn.h"

namespace quantd {
namespace {

const std::array<const Method*, 4>& Methods() {
  static const std::array<const Method*, 4> kMethods = {
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

}  // namespace quantd
