// quantctl dequantize: a quantized checkpoint back to floating point.
#include <iostream>

#include "client/cli/command.h"
#include "client/io/checkpoint_writer.h"
#include "client/job/dequantize_job.h"

namespace quantd::client {
namespace {

class DequantizeCommand final : public Command {
 public:
  CLI::App* Register(CLI::App& app) override {
    CLI::App* dq = app.add_subcommand("dequantize", "Decode a quantized checkpoint to floating point");
    dq->add_option("INPUT", options_.input, "quantized checkpoint (file, index or folder)")->required();
    dq->add_option("OUTPUT", options_.output, "a .safetensors file or a folder")->required();
    dq->add_option("--dtype", dtype_, "output dtype of decoded tensors (default: each tensor's source dtype)")
        ->check(CLI::IsMember({"f32", "f16", "bf16"}));
    dq->add_flag(
        "--overwrite", options_.overwrite,
        "OUTPUT is an existing folder holding files: replace the files this run writes (others are kept)");
    dq->add_option("--max-shard-size", options_.max_shard_bytes,
                   "folder outputs: start a new shard file past this size")
        ->capture_default_str()
        ->transform(CLI::AsSizeValue(false));
    return dq;
  }

  ExitCode Run() override {
    if (Status s = CheckOutputPaths(options_.input, options_.output, options_.overwrite); !s.ok()) {
      return ReportUsage(s.message());
    }
    if (!dtype_.empty()) {
      options_.dtype = dtype_ == "f32" ? DType::kF32 : dtype_ == "f16" ? DType::kF16 : DType::kBF16;
    }
    Status s = RunDequantizeJob(options_, &std::cerr);
    return s.ok() ? ExitCode::kOk : ReportFailure(s);
  }

 private:
  DequantizeJobOptions options_;
  std::string dtype_;
};

}  // namespace

std::unique_ptr<Command> NewDequantizeCommand() { return std::make_unique<DequantizeCommand>(); }

}  // namespace quantd::client
