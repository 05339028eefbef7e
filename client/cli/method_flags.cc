#include "client/cli/method_flags.h"

#include "quantd/core/method.h"

namespace quantd::client {

void MethodFlags::Register(CLI::App* cmd) {
  std::map<std::string, std::string> help;
  for (const Method* m : AllMethods()) {
    for (const ParamSpec& p : m->param_specs()) {
      std::string& h = help[p.name];
      h += (h.empty() ? "" : "; ") + std::string(m->name()) + ": " + p.help + " (" + p.range + ", default " +
           p.default_value + ")";
    }
  }
  for (const auto& [name, text] : help) {
    std::string flag = "--" + name;
    for (char& c : flag) c = c == '_' ? '-' : c;
    cmd->add_option(flag, values_[name], text)->group("Method parameters");
  }
}

void MethodFlags::ApplyTo(Params& p) const {
  for (const auto& [k, v] : values_) {
    if (!v.empty()) p.Set(k, v);
  }
}

}  // namespace quantd::client
