// File: method_flags.h
//
// Method parameters as quantctl flags, derived from the methods' parameter tables: one flag per
// parameter name across all methods (`--group-size` sets `group_size`), whose help lists what
// each method takes it to mean, with its range and default. A flag the chosen method does not
// take is refused by the method's own check, naming it.
#ifndef QUANTD_CLIENT_CLI_METHOD_FLAGS_H_
#define QUANTD_CLIENT_CLI_METHOD_FLAGS_H_

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "quantd/core/params.h"

namespace quantd::client {

class MethodFlags {
 public:
  // Adds the flags to `cmd`, in a "Method parameters" group.
  void Register(CLI::App* cmd);
  // Sets every flag that was given into `params`.
  void ApplyTo(Params& params) const;

 private:
  std::map<std::string, std::string> values_;  // parameter name -> flag value
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_CLI_METHOD_FLAGS_H_
