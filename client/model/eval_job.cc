#include "client/model/eval_job.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "client/io/safetensors_writer.h"

namespace quantd::client {
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

template <typename T>
void Append(std::string& out, const T* data, size_t count) {
  out.append(reinterpret_cast<const char*>(data), count * sizeof(T));
}

}  // namespace

std::string EvalReport::ToText() const {
  std::string s = "nll=" + Fixed(result.nll, 6) + " ppl=" + Fixed(result.ppl(), 4) +
                  " windows=" + std::to_string(result.windows) +
                  " positions=" + std::to_string(result.positions);
  if (result.kl) {
    s += " kl=" + Fixed(*result.kl, 6) + " top1=" + Fixed(*result.top1, 4) +
         " reference_nll=" + Fixed(*result.reference_nll, 6);
  }
  return s;
}

std::string EvalReport::ToJson() const {
  nlohmann::ordered_json j;
  j["model"] = options.model;
  j["tokenizer"] = options.tokenizer;
  j["text"] = options.text;
  j["protocol"] = {{"split", std::string(TextSplitName(options.protocol.split))},
                   {"max_paragraphs", options.protocol.max_paragraphs},
                   {"window", options.protocol.window},
                   {"windows", result.windows}};
  j["positions"] = result.positions;
  j["nll"] = result.nll;
  j["ppl"] = result.ppl();
  if (result.kl) {
    j["reference"] = {{"model", options.reference},
                      {"nll", *result.reference_nll},
                      {"ppl", std::exp(*result.reference_nll)}};
    j["kl"] = *result.kl;
    j["top1"] = *result.top1;
    j["delta_nll"] = result.nll - *result.reference_nll;
  }
  j["seconds"] = seconds;
  return j.dump(2) + "\n";
}

StatusOr<EvalReport> RunEvalJob(const EvalJobOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  EvalReport report;
  report.options = options;
  QUANTD_ASSIGN_OR_RETURN(LlamaModel model, LlamaModel::Load(options.model));
  std::optional<LlamaModel> reference;
  if (!options.reference.empty()) {
    QUANTD_ASSIGN_OR_RETURN(reference, LlamaModel::Load(options.reference));
  }
  QUANTD_ASSIGN_OR_RETURN(Llama2cTokenizer tokenizer, Llama2cTokenizer::Load(options.tokenizer));
  if (tokenizer.vocab_size() != model.config().vocab_size) {
    return InvalidArgumentError(options.tokenizer + ": tokenizer has " +
                                std::to_string(tokenizer.vocab_size()) + " tokens; model " + options.model +
                                " has vocabulary " + std::to_string(model.config().vocab_size));
  }
  std::ifstream in(options.text, std::ios::binary);
  if (!in) return NotFoundError(options.text + ": cannot open text");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<int32_t> stream = BuildEvalStream(tokenizer, text, options.protocol);
  report.stream_tokens = static_cast<int64_t>(stream.size());

  WindowObserver observer;
  std::vector<int32_t> inputs, targets;
  std::vector<float> logits;
  if (!options.dump_logits.empty()) {
    observer = [&](int64_t, std::span<const int32_t> in_ids, std::span<const int32_t> out_ids,
                   std::span<const float> z) {
      inputs.insert(inputs.end(), in_ids.begin(), in_ids.end());
      targets.insert(targets.end(), out_ids.begin(), out_ids.end());
      logits.insert(logits.end(), z.begin(), z.end());
    };
  }
  auto result = EvaluateStream(model, reference ? &*reference : nullptr, stream, options.protocol, observer);
  if (!result.ok()) return result.status().WithContext(options.text);
  report.result = *result;
  if (!options.dump_logits.empty()) {
    const int32_t header[2] = {static_cast<int32_t>(inputs.size()), model.config().vocab_size};
    std::string dump = "QLOG";
    Append(dump, header, 2);
    Append(dump, inputs.data(), inputs.size());
    Append(dump, targets.data(), targets.size());
    Append(dump, logits.data(), logits.size());
    QUANTD_RETURN_IF_ERROR(WriteFileAtomically(options.dump_logits, dump));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace quantd::client
