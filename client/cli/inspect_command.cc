// quantctl inspect: a readable listing of a (quantized or plain) safetensors checkpoint.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "client/cli/command.h"
#include "client/io/quantized_layout.h"

namespace quantd::client {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status Inspect(const std::string& path, std::ostream& out) {
  QUANTD_ASSIGN_OR_RETURN(auto q, QuantizedCheckpoint::Open(path));
  const Checkpoint& ck = q->checkpoint();
  out << path << ": " << ck.files().size() << " file(s), " << ck.total_bytes() << " bytes, "
      << ck.tensors().size() << " entries\n";
  for (const auto& [k, v] : ck.metadata()) {
    if (k.rfind(kTensorKeyPrefix, 0) == 0) continue;
    out << "  metadata " << k << " = " << v << "\n";
  }
  char line[512];
  if (!q->encoded().empty()) {
    out << "encoded tensors (" << q->encoded().size() << "):\n";
    for (const auto& e : q->encoded()) {
      auto j = nlohmann::json::parse(e.metadata_json, nullptr, false);
      std::string params;
      if (j.contains("params") && j["params"].is_object()) {
        for (auto it = j["params"].begin(); it != j["params"].end(); ++it) {
          params += (params.empty() ? "" : ",") + it.key() + "=" + it.value().get<std::string>();
        }
      }
      const double bpw = j.value("bits_per_weight", 0.0);
      const double sqnr =
          j.contains("sqnr_db") && j["sqnr_db"].is_number() ? j["sqnr_db"].get<double>() : 0.0;
      std::snprintf(line, sizeof(line), "  %-40s %-5s %-14s %-10s %6.3f bpw %7.2f dB  %s\n", e.name.c_str(),
                    std::string(DTypeName(e.source_dtype)).c_str(), ShapeText(e.shape).c_str(),
                    e.method.c_str(), bpw, sqnr, params.c_str());
      out << line;
    }
  }
  out << "plain tensors (" << q->plain().size() << "):\n";
  for (const Checkpoint::Entry* e : q->plain()) {
    std::snprintf(line, sizeof(line), "  %-40s %-5s %s\n", e->info->name.c_str(),
                  std::string(DTypeName(e->info->dtype)).c_str(), ShapeText(e->info->shape).c_str());
    out << line;
  }
  return OkStatus();
}

class InspectCommand final : public Command {
 public:
  CLI::App* Register(CLI::App& app) override {
    CLI::App* in = app.add_subcommand("inspect", "List a checkpoint's tensors, encodings and metadata");
    in->add_option("FILE", path_, "checkpoint (file, index or folder)")->required();
    return in;
  }
  ExitCode Run() override {
    Status s = Inspect(path_, std::cout);
    return s.ok() ? ExitCode::kOk : ReportFailure(s);
  }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<Command> NewInspectCommand() { return std::make_unique<InspectCommand>(); }

}  // namespace quantd::client
