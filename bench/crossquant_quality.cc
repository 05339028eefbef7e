// CrossQuant's quantization kernel (the share of non-zero inputs that quantize to 0) against
// per-token quantization at the same bits, with the SQNR of both, printed as markdown:
//   build/bin/crossquant_quality [DATA_DIR]
// Data: the linear-layer weights of stories260K (rows = output channels, the role tokens play for
// activations), each matrix encoded as one slice (the paper's per-matrix column maxima), grouped
// by kind over the 5 layers; and synthetic activation-like matrices (tokens x channels,
// Student-t entries with a few outlier channels, as LLM activations have). The repository has no
// forward pass yet, so real activations are not measured here.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "llama2c_weights.h"
#include "quantd/core/metrics.h"
#include "quantd/core/quantize.h"
#include "synthetic.h"

namespace quantd::bench {
namespace {

using ::quantd::testing::Llama2cMatrix;

struct Totals {
  double elements = 0, nonzero = 0, kernel = 0, per_token_kernel = 0;
  ErrorSums cross, per_token;  // reconstruction error of CrossQuant and of per-token (alpha = 1)
};

// Encodes `m` with CrossQuant at `alpha` and at alpha = 1 (per-token), adds counts and errors.
bool Measure(const Llama2cMatrix& m, int bits, double alpha, Totals* t) {
  const std::vector<int64_t> shape = {m.rows, m.cols};
  const RowBlock block{.tensor_name = m.name, .shape = shape, .rows = m.rows, .cols = m.cols, .data = m.data};
  const Params p{{"bits", std::to_string(bits)}, {"alpha", FormatDouble(alpha)}};
  const Params pt{{"bits", std::to_string(bits)}, {"alpha", "1"}};
  auto cq = EncodeAndMeasure(block, "crossquant", p);
  auto tok = EncodeAndMeasure(block, "crossquant", pt);
  if (!cq.ok() || !tok.ok()) {
    std::fprintf(stderr, "%s: %s\n", m.name.c_str(), (cq.ok() ? tok.status() : cq.status()).ToString().c_str());
    return false;
  }
  const auto& s = cq->encoding.stats;
  t->elements += static_cast<double>(m.rows * m.cols);
  t->nonzero += s.at("nonzero_count");
  t->kernel += s.at("kernel_count");
  t->per_token_kernel += s.at("per_token_kernel_count");
  t->cross.Add(cq->error);
  t->per_token.Add(tok->error);
  // The per-token count reported by the CrossQuant encoding is that of the alpha = 1 encoding.
  if (tok->encoding.stats.at("kernel_count") != tok->encoding.stats.at("per_token_kernel_count")) {
    std::fprintf(stderr, "%s: per-token counts disagree\n", m.name.c_str());
    return false;
  }
  return true;
}

// "layers.3.attention.wq.weight" -> "attention.wq"
std::string Group(const std::string& name) {
  std::string g = name;
  if (g.rfind("layers.", 0) == 0) g = g.substr(g.find('.', 7) + 1);
  if (g.size() > 7 && g.substr(g.size() - 7) == ".weight") g.resize(g.size() - 7);
  return g;
}

double Pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0.0; }

void PrintRow(const std::string& label, const Totals& t) {
  std::printf("| %s | %.0f | %.2f%% | %.2f%% | %.2f | %.2f | %.2f |\n", label.c_str(), t.elements,
              Pct(t.per_token_kernel, t.nonzero), Pct(t.kernel, t.nonzero),
              Pct(t.kernel, t.nonzero) / std::max(1e-12, Pct(t.per_token_kernel, t.nonzero)),
              MetricsFromSums(t.per_token, 0).sqnr_db, MetricsFromSums(t.cross, 0).sqnr_db);
}

void PrintHeader() {
  std::printf("| matrices | elements | per-token kernel | CrossQuant kernel | ratio | SQNR per-token (dB) | "
              "SQNR CrossQuant (dB) |\n|---|---|---|---|---|---|---|\n");
}

int Run(const std::string& data_dir) {
  std::string error;
  const auto weights = testing::ReadLlama2cMatrices(data_dir + "/stories260K/stories260K.bin", &error);
  if (!error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::vector<Llama2cMatrix> linear;
  for (const auto& m : weights) {
    if (m.name.rfind("layers.", 0) == 0) linear.push_back(m);
  }
  std::vector<Llama2cMatrix> synthetic;
  for (int k = 0; k < 3; ++k) {
    const float gain = k == 0 ? 20.0f : k == 1 ? 100.0f : 1.0f;
    const int outliers = k == 2 ? 0 : 4;
    synthetic.push_back({"tokens 256 x channels 4096, " + std::to_string(outliers) + " outlier channels x" +
                             std::to_string(static_cast<int>(gain)),
                         256, 4096, HeavyTailedMatrix(256, 4096, 100 + k, 4.0, outliers, gain, 1.0f)});
  }

  for (int bits : {8, 4}) {
    std::printf("\n### %d bits, alpha = 0.15: stories260K linear weights (rows = output channels)\n\n", bits);
    PrintHeader();
    std::map<std::string, Totals> groups;
    Totals all;
    for (const auto& m : linear) {
      if (!Measure(m, bits, 0.15, &groups[Group(m.name)]) || !Measure(m, bits, 0.15, &all)) return 1;
    }
    for (const auto& [g, t] : groups) PrintRow(g + " (5 layers)", t);
    PrintRow("all 35 linear matrices", all);

    std::printf("\n### %d bits, alpha = 0.15: synthetic activation-like matrices (Student-t, nu = 4)\n\n", bits);
    PrintHeader();
    for (const auto& m : synthetic) {
      Totals t;
      if (!Measure(m, bits, 0.15, &t)) return 1;
      PrintRow(m.name, t);
    }
  }

  std::printf("\n### alpha sweep, stories260K linear weights, 8 and 4 bits\n\n");
  std::printf("| alpha | kernel 8-bit | SQNR 8-bit (dB) | kernel 4-bit | SQNR 4-bit (dB) |\n|---|---|---|---|---|\n");
  for (double alpha : {0.0, 0.15, 0.3, 0.55, 0.8, 1.0}) {
    Totals t8, t4;
    for (const auto& m : linear) {
      if (!Measure(m, 8, alpha, &t8) || !Measure(m, 4, alpha, &t4)) return 1;
    }
    std::printf("| %.2f | %.2f%% | %.2f | %.2f%% | %.2f |\n", alpha, Pct(t8.kernel, t8.nonzero),
                MetricsFromSums(t8.cross, 0).sqnr_db, Pct(t4.kernel, t4.nonzero), MetricsFromSums(t4.cross, 0).sqnr_db);
  }
  return 0;
}

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) {
  return quantd::bench::Run(argc > 1 ? argv[1] : quantd::testing::RealDataDir());
}
