// File: command.h
//
// quantctl's subcommands: each registers its flags on the command line and runs, returning a
// typed exit code. Errors are printed here, in one format: "quantctl: <status>" (exit 1) for a
// failed job, "quantctl: usage: <message>" (exit 2) for a command line that cannot work.
#ifndef QUANTD_CLIENT_CLI_COMMAND_H_
#define QUANTD_CLIENT_CLI_COMMAND_H_

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "quantd/core/status.h"

namespace quantd::client {

enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,  // the job failed; no output file is left behind
  kUsage = 2,    // the command line is wrong; nothing was done
};

// Prints the failure and returns kFailure.
ExitCode ReportFailure(const Status& status);
// Prints the usage problem and returns kUsage.
ExitCode ReportUsage(const std::string& message);

class Command {
 public:
  virtual ~Command() = default;
  // Adds the subcommand and its options to `app`; returns it (to test whether it was chosen).
  virtual CLI::App* Register(CLI::App& app) = 0;
  // Runs after a successful parse.
  virtual ExitCode Run() = 0;
};

std::unique_ptr<Command> NewQuantizeCommand();
std::unique_ptr<Command> NewDequantizeCommand();
std::unique_ptr<Command> NewInspectCommand();
std::unique_ptr<Command> NewConvertLlama2cCommand();
std::unique_ptr<Command> NewEvalCommand();

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_CLI_COMMAND_H_
