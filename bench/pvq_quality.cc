// PVQ quality tables (markdown on stdout) for bench/results/pvq.md:
//  1. parameter choices at 3.25 bits per weight (group size, gain bits and codebook, search,
//     rotation) on real and synthetic weights;
//  2. PVQ against RTN at equal bits per weight (RTN's own layouts, and the targets 2.5, 3.25 and
//     4.125), with RTN after the same Hadamard rotation as a third column, so that the gain of
//     the rotation and the gain of vector quantization can be told apart;
//  3. the Hessian-aware encoder against plain PVQ on the proxy loss tr(E H E^T);
//  4. what tighter index packing could buy: the bits lost to ceil(log2 N) per index, and the
//     SQNR at the K an ideal (mixed-radix, whole-row) packing would afford;
//  5. gain bits against the rate, which sets the default gain_bits = max(4, round(bits)).
//   build/bin/pvq_quality [--data DIR] [--synthetic-rows N] [--sections 12345]
// Bits per weight count every byte of every section plus 32 bits per recorded parameter, per
// tensor; SQNR is over all weights of a model (total signal energy / total error energy).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/common/hadamard.h"
#include "core/pvq/pvq.h"
#include "quantd/core/quantize.h"
#include "tests/testing/hessian.h"
#include "tests/testing/random_tensors.h"
#include "tests/testing/real_weights.h"

namespace quantd::bench {
namespace {

using testing::GaussianMatrix;
using testing::HeavyTailedMatrix;

struct Dataset {
  std::string name;
  std::vector<testing::Llama2cMatrix> matrices;
  int64_t weights() const {
    int64_t n = 0;
    for (const auto& m : matrices) n += m.rows * m.cols;
    return n;
  }
};

struct Result {
  double bpw = 0, sqnr = 0, seconds = 0;
};

// Encodes every matrix of `d` with `method` and the parameters `params_of(matrix)` (rows rotated
// first when `rotate`, for RTN), decodes, and sums up.
template <typename ParamsOf>
Result MeasureEach(const Dataset& d, const char* method, ParamsOf params_of, bool rotate = false) {
  double bits = 0, signal = 0, noise = 0, seconds = 0;
  for (const auto& m : d.matrices) {
    const Params params = params_of(m);
    std::vector<float> x = m.data;
    RandomizedHadamard rot(m.cols, 0);
    if (rotate) {
      for (int64_t r = 0; r < m.rows; ++r) rot.Forward(x.data() + r * m.cols);
    }
    const std::vector<int64_t> shape = {m.rows, m.cols};
    Chunk b{.tensor_name = m.name, .shape = shape, .rows = m.rows, .cols = m.cols, .data = x};
    const auto t0 = std::chrono::steady_clock::now();
    auto e = EncodeRows(b, method, params);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!e.ok()) {
      fprintf(stderr, "%s %s: %s\n", method, params.ToString().c_str(), e.status().ToString().c_str());
      exit(1);
    }
    auto back = DecodeRows(*e);
    if (rotate) {
      for (int64_t r = 0; r < m.rows; ++r) rot.Inverse(back->data() + r * m.cols);
    }
    bits += e->BitsPerWeight() * static_cast<double>(m.rows * m.cols);
    for (size_t i = 0; i < m.data.size(); ++i) {
      const double err = double(m.data[i]) - (*back)[i];
      signal += double(m.data[i]) * m.data[i];
      noise += err * err;
    }
  }
  return {bits / static_cast<double>(d.weights()), 10 * std::log10(signal / noise), seconds};
}

Result Measure(const Dataset& d, const char* method, const Params& params, bool rotate = false) {
  return MeasureEach(
      d, method, [&](const testing::Llama2cMatrix&) { return params; }, rotate);
}

// RTN's bits per weight on one matrix without its parameters: the budget PVQ gets for "equal
// bits" on that matrix (RTN's groups never cross rows, so short rows cost it more).
double RtnSectionBpw(const testing::Llama2cMatrix& m, int bits, int group) {
  const int64_t groups = (m.cols + group - 1) / group;
  return (8.0 * static_cast<double>((m.cols * bits + 7) / 8) + 16.0 * static_cast<double>(groups)) /
         static_cast<double>(m.cols);
}

void ParameterTable(const std::vector<Dataset>& sets) {
  printf("\n### Parameter choices at 3.25 bits per weight (SQNR dB)\n\n| setting |");
  for (const auto& d : sets) printf(" %s |", d.name.c_str());
  printf("\n|---|");
  for (size_t i = 0; i < sets.size(); ++i) printf("---|");
  printf("\n");
  struct Row {
    const char* label;
    Params p;
  };
  const std::vector<Row> rows = {
      {"D=16, gain 4 bits, lloyd", {{"group_size", "16"}}},
      {"D=32, gain 4 bits, lloyd (default)", {}},
      {"D=64, gain 4 bits, lloyd", {{"group_size", "64"}}},
      {"D=128, gain 4 bits, lloyd", {{"group_size", "128"}}},
      {"D=32, gain 2 bits", {{"gain_bits", "2"}}},
      {"D=32, gain 3 bits", {{"gain_bits", "3"}}},
      {"D=32, gain 5 bits", {{"gain_bits", "5"}}},
      {"D=32, gain 6 bits", {{"gain_bits", "6"}}},
      {"D=32, gain 4 bits, quantile", {{"gain_codebook", "quantile"}}},
      {"D=32, gain 3 bits, quantile", {{"gain_bits", "3"}, {"gain_codebook", "quantile"}}},
      {"D=64, gain 3 bits", {{"group_size", "64"}, {"gain_bits", "3"}}},
      {"D=64, gain 5 bits", {{"group_size", "64"}, {"gain_bits", "5"}}},
      {"D=64, gain 4 bits, quantile", {{"group_size", "64"}, {"gain_codebook", "quantile"}}},
      {"D=32, greedy search", {{"search", "greedy"}}},
      {"D=64, greedy search", {{"group_size", "64"}, {"search", "greedy"}}},
      {"D=32, no rotation", {{"rotation", "none"}}},
      {"D=32, scale f32", {{"scale_dtype", "f32"}}},
  };
  for (const Row& r : rows) {
    Params p = r.p;
    p.Set("bits", "3.25");
    printf("| %s |", r.label);
    for (const auto& d : sets) {
      const Result m = Measure(d, "pvq", p);
      printf(" %.3f (%.3f bpw) |", m.sqnr, m.bpw);
    }
    printf("\n");
    fflush(stdout);
  }
}

void RtnComparison(const Dataset& d) {
  printf("\n### %s: PVQ vs RTN at equal bits per weight\n\n", d.name.c_str());
  printf(
      "| budget | RTN bpw | RTN dB | RTN after rotation dB | PVQ bpw | PVQ dB | PVQ - RTN dB | PVQ - rotated "
      "RTN dB |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  for (int bits = 2; bits <= 5; ++bits) {
    for (int g : {32, 64, 128}) {
      const Params rp{{"bits", std::to_string(bits)}, {"group_size", std::to_string(g)}};
      const Result rtn = Measure(d, "rtn", rp);
      const Result rot = Measure(d, "rtn", rp, true);
      const Result pvq = MeasureEach(d, "pvq", [&](const testing::Llama2cMatrix& m) {
        return Params{{"bits", FormatDouble(RtnSectionBpw(m, bits, g))}};
      });
      printf("| RTN %d-bit g%d | %.3f | %.2f | %.2f | %.3f | %.2f | %+.2f | %+.2f |\n", bits, g, rtn.bpw,
             rtn.sqnr, rot.sqnr, pvq.bpw, pvq.sqnr, pvq.sqnr - rtn.sqnr, pvq.sqnr - rot.sqnr);
      fflush(stdout);
    }
  }
  printf("\n| target | PVQ bpw | PVQ dB | PVQ encode s |\n|---|---|---|---|\n");
  for (double target : {2.5, 3.25, 4.125}) {
    const Result pvq = Measure(d, "pvq", {{"bits", FormatDouble(target)}});
    printf("| %.3f | %.4f | %.2f | %.2f |\n", target, pvq.bpw, pvq.sqnr, pvq.seconds);
  }
}

// H = X^T X for inputs driven by a few shared factors plus noise (strongly correlated features),
// and the proxy loss tr(E H E^T) of plain and Hessian-aware PVQ on Gaussian weights.
void HessianTable(int64_t rows, int64_t n) {
  printf("\n### Hessian-aware PVQ, %lld x %lld Gaussian weights, correlated calibration inputs\n\n",
         static_cast<long long>(rows), static_cast<long long>(n));
  const std::vector<float> h = testing::CorrelatedHessian(n, 2048, 11, 16, 0.3);
  const Calibration cal{.column_max = {}, .hessian = h};
  const std::vector<float> w = GaussianMatrix(rows, n, 3);
  const std::vector<int64_t> shape = {rows, n};
  auto proxy = [&](const std::vector<float>& back) { return testing::ProxyLoss(w, back, h, rows, n); };
  double signal = 0;
  for (float v : w) signal += double(v) * v;
  printf(
      "| bits | damp | plain proxy | Hessian proxy | ratio | plain SQNR dB | Hessian SQNR dB | Hessian "
      "encode s |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  for (double bits : {2.5, 3.25, 4.125}) {
    for (double damp : {0.01, 0.1}) {
      Chunk b{.tensor_name = "h", .shape = shape, .rows = rows, .cols = n, .data = w, .calibration = nullptr};
      const Params plain{{"bits", FormatDouble(bits)}};
      Params hp = plain;
      hp.Set("use_hessian", "true");
      hp.SetDouble("damp", damp);
      auto ep = EncodeRows(b, "pvq", plain);
      b.calibration = &cal;
      const auto t0 = std::chrono::steady_clock::now();
      auto eh = EncodeRows(b, "pvq", hp);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!ep.ok() || !eh.ok()) {
        fprintf(stderr, "hessian table: %s %s\n", ep.status().ToString().c_str(),
                eh.status().ToString().c_str());
        exit(1);
      }
      const std::vector<float> bp = *DecodeRows(*ep), bh = *DecodeRows(*eh);
      auto sq = [&](const std::vector<float>& back) {
        double e = 0;
        for (size_t i = 0; i < w.size(); ++i) e += (double(w[i]) - back[i]) * (double(w[i]) - back[i]);
        return 10 * std::log10(signal / e);
      };
      const double lp = proxy(bp), lh = proxy(bh);
      printf("| %.3f | %g | %.4g | %.4g | %.3f | %.2f | %.2f | %.2f |\n", bits, damp, lp, lh, lh / lp, sq(bp),
             sq(bh), secs);
      fflush(stdout);
    }
  }
}

// log2 N(d, k) from the top 64 bits of the exact count.
double Log2Count(int d, int k) {
  auto t = pvq_internal::GetPyramidTable(d, k);
  const uint64_t* n = t->Count(d, k);
  int top = t->words() - 1;
  while (top > 0 && n[top] == 0) --top;
  double v = static_cast<double>(n[top]);
  if (top > 0) v += static_cast<double>(n[top - 1]) * 0x1p-64;
  return std::log2(v) + 64.0 * top;
}

void PackingTable(const Dataset& d) {
  const int64_t n = d.matrices[0].cols;
  printf("\n### Index packing on %s: ceil(log2 N) per index against ideal packing\n\n", d.name.c_str());
  printf(
      "| target | D | K | log2 N | bits stored | lost per weight | layout bpw | SQNR dB | K ideal | ideal "
      "bpw | SQNR dB at K ideal |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (double target : {2.5, 3.25, 4.125}) {
    for (int group : {32, 64}) {
      const Params user{{"bits", FormatDouble(target)}, {"group_size", std::to_string(group)}};
      auto resolved = PvqMethod().Resolve(user, n);
      auto o = PvqOptions::FromParams(*resolved);
      auto lay = pvq_internal::MakeLayout(*o, n);
      const double log2n = Log2Count(group, o->k);
      const int64_t groups = n / group;
      // An ideal packing stores a row's G indices as one number below N^G (mixed radix).
      auto ideal_bpw = [&](int k) {
        return (static_cast<double>(groups * o->gain_bits) + std::ceil(groups * Log2Count(group, k)) +
                8.0 * lay->scale_bytes) /
               static_cast<double>(n);
      };
      int k_ideal = o->k;
      while (ideal_bpw(k_ideal + 1) <= target) ++k_ideal;
      const Result at_k = Measure(d, "pvq", *resolved);
      Params p = *resolved;
      p.SetInt("k", k_ideal);
      const Result at_ideal = Measure(d, "pvq", p);
      printf("| %.3f | %d | %d | %.2f | %d | %.4f | %.4f | %.2f | %d | %.4f | %.2f |\n", target, group, o->k,
             log2n, lay->index_bits, groups * (lay->index_bits - log2n) / static_cast<double>(n),
             lay->BitsPerWeight(), at_k.sqnr, k_ideal, ideal_bpw(k_ideal), at_ideal.sqnr);
      fflush(stdout);
    }
  }
}

void GainBitsTable(const std::vector<Dataset>& sets) {
  printf("\n### Gain bits against the rate (SQNR dB; * marks the default max(4, round(bits)))\n\n");
  printf("| data | bits | g3 | g4 | g5 | g6 | g7 |\n|---|---|---|---|---|---|---|\n");
  for (const auto& d : sets) {
    for (double bits : {2.5, 3.25, 4.125, 4.5, 5.0, 6.0}) {
      printf("| %s | %g |", d.name.c_str(), bits);
      for (int g = 3; g <= 7; ++g) {
        const Result r = Measure(d, "pvq", {{"bits", FormatDouble(bits)}, {"gain_bits", std::to_string(g)}});
        printf(" %.2f%s |", r.sqnr, g == pvq_internal::DefaultGainBits(bits) ? "*" : "");
        fflush(stdout);
      }
      printf("\n");
    }
  }
}

Dataset Synthetic(int64_t rows, int64_t cols) {
  Dataset d;
  d.name = "heavy-tailed " + std::to_string(rows) + "x" + std::to_string(cols);
  d.matrices.push_back({"synthetic", rows, cols, HeavyTailedMatrix(rows, cols, 1)});
  return d;
}

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) {
  using namespace quantd::bench;
  std::string data = quantd::testing::RealDataDir(), sections = "12345";
  int64_t synthetic_rows = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data")) data = argv[i + 1];
    if (!strcmp(argv[i], "--synthetic-rows")) synthetic_rows = std::stoll(argv[i + 1]);
    if (!strcmp(argv[i], "--sections")) sections = argv[i + 1];
  }
  auto linear = [&](const std::string& rel) {
    std::string error;
    const auto w = quantd::testing::ReadLlama2c(data + "/" + rel, &error);
    if (!error.empty()) fprintf(stderr, "%s\n", error.c_str());
    return w.LinearLayers();
  };
  std::vector<Dataset> real = {
      {"stories260K", linear("stories260K/stories260K.bin")},
      {"en10", linear("en10_babyllama_tok105/model5000.bin")},
  };
  for (const auto& d : real) {
    if (d.matrices.empty()) {
      fprintf(stderr, "cannot read %s under %s\n", d.name.c_str(), data.c_str());
      return 1;
    }
  }
  if (sections.find('1') != std::string::npos) {
    std::vector<Dataset> sets = real;
    sets.push_back(Synthetic(1024, 4096));
    ParameterTable(sets);
  }
  if (sections.find('2') != std::string::npos) {
    for (const auto& d : real) RtnComparison(d);
    RtnComparison(Synthetic(synthetic_rows, 4096));
  }
  if (sections.find('3') != std::string::npos) HessianTable(256, 1024);
  if (sections.find('4') != std::string::npos) PackingTable(Synthetic(1024, 4096));
  if (sections.find('5') != std::string::npos) {
    std::vector<Dataset> sets = real;
    sets.push_back(Synthetic(1024, 4096));
    sets.push_back({"Gaussian 256x1024", {{"gaussian", 256, 1024, GaussianMatrix(256, 1024, 3)}}});
    GainBitsTable(sets);
  }
  return 0;
}
