// quantctl eval: perplexity, and KL / top-1 agreement against a reference model (docs/EVAL.md).
#include <tbb/global_control.h>

#include <iostream>

#include "client/cli/command.h"
#include "client/model/eval_job.h"

namespace quantd::client {
namespace {

class EvalCommand final : public Command {
 public:
  CLI::App* Register(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "eval", "Perplexity of a llama2.c-architecture checkpoint (float or quantized) on a text");
    cmd->add_option("--model", options_.model, "checkpoint made by convert-llama2c, or quantized from one")
        ->required();
    cmd->add_option("--tokenizer", options_.tokenizer,
                    "llama2.c tokenizer of the model (tok512.bin, tok105.bin)")
        ->required();
    cmd->add_option("--text", options_.text, "text file to score")->required();
    cmd->add_option("--windows", options_.protocol.windows, "windows to score (0: every complete window)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
    cmd->add_option("--window", options_.protocol.window,
                    "tokens scored per window (the model sees BOS + window-1)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cmd->add_option(
           "--split", split_,
           "paragraphs: cut the text on blank lines (tinystories_val); lines: on line ends (wiki.test.raw)")
        ->capture_default_str()
        ->check(CLI::IsMember({"paragraphs", "lines"}));
    cmd->add_option("--paragraphs", options_.protocol.max_paragraphs,
                    "paragraphs (or lines) used at most (0: all)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
    cmd->add_option("--reference", options_.reference,
                    "float checkpoint to compare with: adds KL(reference || model) and top-1 agreement");
    cmd->add_flag("--json", json_, "print the result as JSON");
    cmd->add_option("--threads", threads_, "worker threads (default: all cores)")->check(CLI::Range(0, 4096));
    cmd->add_option("--dump-logits", options_.dump_logits)
        ->group("");  // for tests/python/llama2c_reference.py
    return cmd;
  }

  ExitCode Run() override {
    std::unique_ptr<tbb::global_control> limit;
    if (threads_ > 0) {
      limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads_);
    }
    options_.protocol.split = *ParseTextSplit(split_);
    auto report = RunEvalJob(options_);
    if (!report.ok()) return ReportFailure(report.status());
    std::cout << (json_ ? report->ToJson() : report->ToText() + "\n");
    return ExitCode::kOk;
  }

 private:
  EvalJobOptions options_;
  std::string split_ = "paragraphs";
  bool json_ = false;
  int threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> NewEvalCommand() { return std::make_unique<EvalCommand>(); }

}  // namespace quantd::client
