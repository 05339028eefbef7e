// quantctl: the command-line client. Subcommands (one file each in this folder):
//   quantize         quantize a safetensors checkpoint (in-process, or on quantd servers)
//   dequantize       decode a quantized checkpoint back to F32/F16/BF16
//   inspect          list a checkpoint's tensors and encodings
//   convert-llama2c  convert a llama2.c .bin checkpoint to safetensors
//   eval             perplexity of a llama2.c-architecture checkpoint on a text (docs/EVAL.md)
// Exit status (command.h): 0 success, 1 failure, 2 usage error.
#include <iostream>
#include <memory>
#include <vector>

#include "client/cli/command.h"

namespace quantd::client {

ExitCode ReportFailure(const Status& status) {
  std::cerr << "quantctl: " << status.ToString() << "\n";
  return ExitCode::kFailure;
}

ExitCode ReportUsage(const std::string& message) {
  std::cerr << "quantctl: usage: " << message << "\nRun with --help for usage.\n";
  return ExitCode::kUsage;
}

}  // namespace quantd::client

int main(int argc, char** argv) {
  using namespace quantd::client;
  CLI::App app{"quantctl: quantize safetensors checkpoints with RTN, Kashin, PVQ or CrossQuant"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quantctl 0.1.0");
  std::vector<std::unique_ptr<Command>> commands;
  commands.push_back(NewQuantizeCommand());
  commands.push_back(NewDequantizeCommand());
  commands.push_back(NewInspectCommand());
  commands.push_back(NewConvertLlama2cCommand());
  commands.push_back(NewEvalCommand());
  std::vector<CLI::App*> subs;
  for (auto& c : commands) subs.push_back(c->Register(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "quantctl: " << e.what() << "\nRun with --help for usage.\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    if (*subs[i]) return static_cast<int>(commands[i]->Run());
  }
  return static_cast<int>(ExitCode::kUsage);
}
