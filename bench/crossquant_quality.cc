// CrossQuant's quantization kernel (the share of non-zero inputs that quantize to 0) against
// per-token quantization at the same bits, with the SQNR of both, printed as markdown:
//   build/bin/crossquant_quality [DATA_DIR]
// Data, each matrix encoded as one slice (the paper's per-matrix column maxima):
//   - activations of stories260K: the inputs of every linear layer (rows = tokens) over the
//     first two 255-token windows of tinystories_val (quantctl eval's protocol: BOS + 254
//     tokens each, 510 tokens), observed in client::LlamaModel's forward pass;
//   - its linear-layer weights (rows = output channels, the role tokens play for activations);
//   - synthetic activation-like matrices (Student-t entries with a few outlier channels).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "client/model/llama2c.h"
#include "client/model/llama2c_tokenizer.h"
#include "client/model/llama_model.h"
#include "client/model/perplexity.h"
#include "quantd/core/metrics.h"
#include "quantd/core/quantize.h"
#include "tests/testing/random_tensors.h"
#include "tests/testing/real_weights.h"

namespace quantd::bench {
namespace {

using ::quantd::testing::HeavyTailedMatrix;
using ::quantd::testing::Llama2cMatrix;

struct Totals {
  double elements = 0, nonzero = 0, kernel = 0, per_token_kernel = 0;
  double column_below_row = 0;  // non-zero elements with c_j < t_i (CrossQuant's step is smaller there)
  ErrorSums cross, per_token;   // reconstruction error of CrossQuant and of per-token (alpha = 1)
};

// Encodes `m` with CrossQuant at `alpha` and at alpha = 1 (per-token), adds counts and errors.
bool Measure(const Llama2cMatrix& m, int bits, double alpha, Totals* t) {
  const std::vector<int64_t> shape = {m.rows, m.cols};
  const Chunk block{.tensor_name = m.name, .shape = shape, .rows = m.rows, .cols = m.cols, .data = m.data};
  const Params p{{"bits", std::to_string(bits)}, {"alpha", FormatDouble(alpha)}};
  const Params pt{{"bits", std::to_string(bits)}, {"alpha", "1"}};
  auto cq = EncodeAndMeasure(block, "crossquant", p);
  auto tok = EncodeAndMeasure(block, "crossquant", pt);
  if (!cq.ok() || !tok.ok()) {
    std::fprintf(stderr, "%s: %s\n", m.name.c_str(),
                 (cq.ok() ? tok.status() : cq.status()).ToString().c_str());
    return false;
  }
  const auto& s = cq->encoding.stats;
  t->elements += static_cast<double>(m.rows * m.cols);
  t->nonzero += s.at("nonzero_count");
  t->kernel += s.at("kernel_count");
  t->per_token_kernel += s.at("per_token_kernel_count");
  t->cross.Add(cq->error);
  t->per_token.Add(tok->error);
  std::vector<float> row_max(m.rows, 0.0f), col_max(m.cols, 0.0f);
  for (int64_t i = 0; i < m.rows; ++i) {
    for (int64_t j = 0; j < m.cols; ++j) {
      row_max[i] = std::max(row_max[i], std::fabs(m.data[i * m.cols + j]));
      col_max[j] = std::max(col_max[j], std::fabs(m.data[i * m.cols + j]));
    }
  }
  for (int64_t i = 0; i < m.rows; ++i) {
    for (int64_t j = 0; j < m.cols; ++j)
      t->column_below_row += m.data[i * m.cols + j] != 0 && col_max[j] < row_max[i];
  }
  // The per-token count reported by the CrossQuant encoding is that of the alpha = 1 encoding.
  if (tok->encoding.stats.at("kernel_count") != tok->encoding.stats.at("per_token_kernel_count")) {
    std::fprintf(stderr, "%s: per-token counts disagree\n", m.name.c_str());
    return false;
  }
  return true;
}

// "layers.3.attention.wq.weight" -> "attention.wq", "layers.3.ffn_in" -> "ffn_in"
std::string Group(const std::string& name) {
  std::string g = name;
  if (g.rfind("layers.", 0) == 0) g = g.substr(g.find('.', 7) + 1);
  if (g.size() > 7 && g.substr(g.size() - 7) == ".weight") g.resize(g.size() - 7);
  return g;
}

// The inputs of every linear layer over the first two windows of quantctl eval's protocol on
// tinystories_val, one matrix per layer and site ("layers.3.ffn_in", "final"), rows appended
// window after window, in the order the forward pass meets them.
bool CaptureActivations(const std::string& data_dir, std::vector<Llama2cMatrix>* acts) {
  auto tok = client::Llama2cTokenizer::Load(data_dir + "/stories260K/tok512.bin");
  std::ifstream in(data_dir + "/tinystories_val/tinystories_val_first8659lines.txt", std::ios::binary);
  auto file = client::ReadLlama2c(data_dir + "/stories260K/stories260K.bin");
  if (!tok.ok() || !in || !file.ok()) {
    std::fprintf(stderr, "cannot read the model, tokenizer or tinystories_val under %s\n", data_dir.c_str());
    return false;
  }
  std::map<std::string, std::vector<float>> tensors;
  for (const auto& t : (*file)->tensors) tensors[t.name] = t.Values();
  auto llama = client::LlamaModel::FromTensors((*file)->config, std::move(tensors));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  client::EvalProtocol protocol;
  protocol.windows = 2;
  const std::vector<int32_t> stream = client::BuildEvalStream(*tok, text, protocol);
  if (!llama.ok() || static_cast<int64_t>(stream.size()) < protocol.windows * protocol.window) {
    std::fprintf(stderr, "model or token stream unusable\n");
    return false;
  }
  const client::ActivationObserver observer = [&](int layer, std::string_view site, int64_t rows,
                                                  int64_t width, std::span<const float> values) {
    const std::string name =
        layer < 0 ? std::string(site) : "layers." + std::to_string(layer) + "." + std::string(site);
    auto it =
        std::find_if(acts->begin(), acts->end(), [&](const Llama2cMatrix& m) { return m.name == name; });
    if (it == acts->end()) it = acts->insert(acts->end(), Llama2cMatrix{name, 0, width, {}});
    it->data.insert(it->data.end(), values.begin(), values.end());
    it->rows += rows;
  };
  for (int64_t k = 0; k < protocol.windows; ++k) {
    std::vector<int32_t> inputs = {client::Llama2cTokenizer::kBos};
    inputs.insert(inputs.end(), stream.begin() + k * protocol.window,
                  stream.begin() + (k + 1) * protocol.window - 1);
    std::vector<float> logits(inputs.size() * (*file)->config.vocab_size);
    auto cache = llama->NewCache();
    if (!llama->Forward(inputs, cache, logits, &observer).ok()) return false;
  }
  return true;
}

double Pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0.0; }

void PrintRow(const std::string& label, const Totals& t) {
  std::printf("| %s | %.0f | %.1f%% | %.2f%% | %.2f%% | %.2f | %.2f | %.2f |\n", label.c_str(), t.elements,
              Pct(t.column_below_row, t.nonzero), Pct(t.per_token_kernel, t.nonzero),
              Pct(t.kernel, t.nonzero),
              Pct(t.kernel, t.nonzero) / std::max(1e-12, Pct(t.per_token_kernel, t.nonzero)),
              MetricsFromSums(t.per_token, 0).sqnr_db, MetricsFromSums(t.cross, 0).sqnr_db);
}

void PrintHeader() {
  std::printf(
      "| matrices | elements | c_j < t_i | per-token kernel | CrossQuant kernel | ratio | "
      "SQNR per-token (dB) | SQNR CrossQuant (dB) |\n|---|---|---|---|---|---|---|---|\n");
}

// Kernel and SQNR per group of matrices (summed over layers) and over all of them.
bool PrintGroups(const std::vector<Llama2cMatrix>& mats, int bits, const std::string& all_label) {
  PrintHeader();
  std::map<std::string, Totals> groups;
  Totals all;
  for (const auto& m : mats) {
    if (!Measure(m, bits, 0.15, &groups[Group(m.name)]) || !Measure(m, bits, 0.15, &all)) return false;
  }
  for (const auto& [g, t] : groups) PrintRow(g, t);
  PrintRow(all_label, all);
  return true;
}

bool PrintAlphaSweep(const std::vector<Llama2cMatrix>& mats) {
  std::printf(
      "| alpha | kernel 8-bit | SQNR 8-bit (dB) | kernel 4-bit | SQNR 4-bit (dB) |\n|---|---|---|---|---|\n");
  for (double alpha : {0.0, 0.15, 0.3, 0.55, 0.8, 1.0}) {
    Totals t8, t4;
    for (const auto& m : mats) {
      if (!Measure(m, 8, alpha, &t8) || !Measure(m, 4, alpha, &t4)) return false;
    }
    std::printf("| %.2f | %.2f%% | %.2f | %.2f%% | %.2f |\n", alpha, Pct(t8.kernel, t8.nonzero),
                MetricsFromSums(t8.cross, 0).sqnr_db, Pct(t4.kernel, t4.nonzero),
                MetricsFromSums(t4.cross, 0).sqnr_db);
  }
  return true;
}

int Run(const std::string& data_dir) {
  std::string error;
  const auto weights = testing::ReadLlama2c(data_dir + "/stories260K/stories260K.bin", &error);
  if (!error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::vector<Llama2cMatrix> activations;
  if (!CaptureActivations(data_dir, &activations)) return 1;
  std::printf("Activations: %ld tokens, from client::LlamaModel's forward pass\n",
              static_cast<long>(activations.front().rows));
  const std::vector<Llama2cMatrix> linear = weights.LinearLayers();
  std::vector<Llama2cMatrix> synthetic;
  for (int k = 0; k < 3; ++k) {
    const float gain = k == 0 ? 20.0f : k == 1 ? 100.0f : 1.0f;
    const int outliers = k == 2 ? 0 : 4;
    synthetic.push_back({"tokens 256 x channels 4096, " + std::to_string(outliers) + " outlier channels x" +
                             std::to_string(static_cast<int>(gain)),
                         256, 4096, HeavyTailedMatrix(256, 4096, 100 + k, 4.0, outliers, gain, 1.0f)});
  }
  for (int bits : {8, 4}) {
    std::printf("\n### %d bits, alpha = 0.15: stories260K activations (rows = tokens; 5 layers per row)\n\n",
                bits);
    if (!PrintGroups(activations, bits, "all 21 activation matrices")) return 1;
    std::printf(
        "\n### %d bits, alpha = 0.15: stories260K linear weights (rows = output channels; 5 layers per "
        "row)\n\n",
        bits);
    if (!PrintGroups(linear, bits, "all 35 weight matrices")) return 1;
    std::printf("\n### %d bits, alpha = 0.15: synthetic activation-like matrices (Student-t, nu = 4)\n\n",
                bits);
    PrintHeader();
    for (const auto& m : synthetic) {
      Totals t;
      if (!Measure(m, bits, 0.15, &t)) return 1;
      PrintRow(m.name, t);
    }
  }
  std::printf("\n### alpha sweep, stories260K activations\n\n");
  if (!PrintAlphaSweep(activations)) return 1;
  std::printf("\n### alpha sweep, stories260K linear weights\n\n");
  if (!PrintAlphaSweep(linear)) return 1;
  return 0;
}

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) {
  return quantd::bench::Run(argc > 1 ? argv[1] : quantd::testing::RealDataDir());
}
