// quantctl convert-llama2c: a llama2.c .bin checkpoint as safetensors.
#include <iostream>

#include "client/cli/command.h"
#include "client/model/llama2c_converter.h"

namespace quantd::client {
namespace {

class ConvertLlama2cCommand final : public Command {
 public:
  CLI::App* Register(CLI::App& app) override {
    CLI::App* cv = app.add_subcommand("convert-llama2c", "Convert a llama2.c .bin checkpoint to safetensors");
    cv->add_option("INPUT", input_, "llama2.c checkpoint (.bin)")->required();
    cv->add_option("OUTPUT", output_, "output .safetensors file")->required();
    return cv;
  }

  ExitCode Run() override {
    auto cfg = ConvertLlama2cToSafetensors(input_, output_);
    if (!cfg.ok()) return ReportFailure(cfg.status());
    std::cout << "wrote " << output_ << ": dim " << cfg->dim << ", hidden " << cfg->hidden_dim << ", "
              << cfg->n_layers << " layers, " << cfg->n_heads << "/" << cfg->n_kv_heads << " heads, vocab "
              << cfg->vocab_size << ", " << cfg->parameter_count() << " parameters\n";
    return ExitCode::kOk;
  }

 private:
  std::string input_, output_;
};

}  // namespace

std::unique_ptr<Command> NewConvertLlama2cCommand() { return std::make_unique<ConvertLlama2cCommand>(); }

}  // namespace quantd::client
