// Kashin quality tables (markdown on stdout) for bench/results/kashin.md:
//  1. every projection matrix of the real llama2.c models at 2, 3 and 4 bits: RTN (g128, f16
//     scales) against Kashin in rows and matrix mode, with the bits per weight each really costs;
//  2. heavy-tailed synthetic matrices (Student-t nu=4 with outlier columns, tests/testing/random_tensors.h)
//     and Gaussian ones, rows x 4096;
//  3. the scale design choice: per-row RMS normalisation (the method) against one scale for the
//     whole slice, clustered with the same k-means.
//   build/bin/kashin_quality [--data ../shared/data] [--rows 4096] [--no-matrix-synthetic]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/kashin/kashin.h"
#include "quantd/core/quantize.h"
#include "tests/testing/random_tensors.h"
#include "tests/testing/real_weights.h"

namespace quantd::bench {
namespace {

using testing::GaussianMatrix;
using testing::HeavyTailedMatrix;

struct Matrix {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
};

// The projection matrices of a llama2.c checkpoint, named as the tables name them
// ("layers.0.wq" for "layers.0.attention.wq.weight").
std::vector<Matrix> ReadLlama2c(const std::string& path) {
  std::string error;
  const testing::Llama2cWeights w = testing::ReadLlama2c(path, &error);
  if (!error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::exit(1);
  }
  std::vector<Matrix> out;
  for (testing::Llama2cMatrix& m : w.LinearLayers()) {
    std::string name = m.name;
    for (const char* part : {"attention.", "feed_forward.", ".weight"}) {
      const size_t at = name.find(part);
      if (at != std::string::npos) name.erase(at, std::string(part).size());
    }
    out.push_back({name, m.rows, m.cols, std::move(m.data)});
  }
  return out;
}

struct Result {
  ErrorSums error;
  double bits = 0;  // storage bits
  double steps = 0, vectors = 0, not_converged = 0, unquantized = 0;
  double seconds = 0;
  void Add(const Result& o) {
    error.Add(o.error);
    bits += o.bits;
    steps += o.steps;
    vectors += o.vectors;
    not_converged += o.not_converged;
    unquantized += o.unquantized;
    seconds += o.seconds;
  }
  double Sqnr() const { return 10 * std::log10(error.signal_energy / error.error_energy); }
  double RelErr() const { return std::sqrt(error.error_energy / error.signal_energy); }
  double Bpw() const { return bits / static_cast<double>(error.count); }
};

// Encodes w in slices of chunk_rows rows, as quantctl does (its default 4 MiB chunks are 256
// rows of 4096 F32 weights), and sums the errors and storage; parameters count once per tensor.
Result Run(const std::string& method, const Params& p, const std::vector<float>& w, int64_t rows,
           int64_t cols, int64_t chunk_rows) {
  const std::vector<int64_t> shape = {rows, cols};
  Result r;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - r0);
    Chunk b{.tensor_name = "t",
            .shape = shape,
            .row_begin = r0,
            .rows = n,
            .cols = cols,
            .data = std::span<const float>(w).subspan(static_cast<size_t>(r0 * cols),
                                                      static_cast<size_t>(n * cols))};
    const auto t0 = std::chrono::steady_clock::now();
    auto m = EncodeAndMeasure(b, method, p);
    r.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!m.ok()) {
      std::fprintf(stderr, "%s %s: %s\n", method.c_str(), p.ToString().c_str(),
                   m.status().ToString().c_str());
      std::exit(1);
    }
    r.error.Add(m->error);
    r.bits += 8.0 * static_cast<double>(m->encoding.SectionBytes());
    if (r0 == 0) r.bits += static_cast<double>(Encoding::kParamBits * m->encoding.params.size());
    auto stat = [&](const char* k) { return m->encoding.stats.count(k) ? m->encoding.stats.at(k) : 0.0; };
    r.steps += stat("iterations_sum");
    r.vectors += stat("vectors");
    r.not_converged += stat("vectors_not_converged");
    r.unquantized += stat("rows_unquantized");
  }
  return r;
}

// Rows per slice for a row length: quantctl's default chunk of 4 MiB of F32.
int64_t ChunkRows(int64_t cols) { return std::max<int64_t>(1, (int64_t{4} << 20) / (4 * cols)); }

struct Setting {
  const char* label;
  const char* method;
  Params params;  // bits added per run
};

void RealModel(const std::string& data, const char* label, const char* file) {
  const std::vector<Matrix> mats = ReadLlama2c(data + "/" + file);
  constexpr int kSettings = 4;
  const Setting settings[kSettings] = {
      {"RTN g128", "rtn", {}},
      {"Kashin rows (step_choice=slice)", "kashin", {}},
      {"Kashin rows (step_choice=vector)", "kashin", {{"step_choice", "vector"}}},
      {"Kashin matrix", "kashin", {{"mode", "matrix"}}},
  };
  std::printf("### %s (`%s`), %zu matrices\n\n", label, file, mats.size());
  std::printf(
      "SQNR in dB per matrix: RTN / Kashin rows (slice) / Kashin rows (vector) / Kashin matrix; "
      "default parameters otherwise.\n\n");
  std::printf("| tensor | shape | 2 bits | 3 bits | 4 bits |\n|---|---|---|---|---|\n");
  Result total[3][kSettings];
  for (const Matrix& m : mats) {
    std::printf("| %s | %lldx%lld |", m.name.c_str(), static_cast<long long>(m.rows),
                static_cast<long long>(m.cols));
    for (int bits = 2; bits <= 4; ++bits) {
      for (int s = 0; s < kSettings; ++s) {
        Params p = settings[s].params;
        p.SetInt("bits", bits);
        const Result r = Run(settings[s].method, p, m.data, m.rows, m.cols, ChunkRows(m.cols));
        total[bits - 2][s].Add(r);
        std::printf("%s%.2f", s == 0 ? " " : " / ", r.Sqnr());
      }
      std::printf(" |");
    }
    std::printf("\n");
  }
  std::printf("\nWhole model (all matrices together):\n\n");
  std::printf(
      "| bits | setting | bits/weight | SQNR dB | rel. error | greedy steps/vector | vectors not converged "
      "|\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int bits = 2; bits <= 4; ++bits) {
    for (int s = 0; s < kSettings; ++s) {
      const Result& r = total[bits - 2][s];
      if (s == 0) {
        std::printf("| %d | %s | %.3f | %.2f | %.4f | | |\n", bits, settings[s].label, r.Bpw(), r.Sqnr(),
                    r.RelErr());
      } else {
        std::printf("| %d | %s | %.3f | %.2f | %.4f | %.1f | %.0f of %.0f |\n", bits, settings[s].label,
                    r.Bpw(), r.Sqnr(), r.RelErr(), r.steps / r.vectors, r.not_converged, r.vectors);
      }
    }
  }
  std::printf("\n");
}

void Synthetic(const char* label, const std::vector<float>& w, int64_t rows, int64_t cols, bool with_matrix) {
  std::printf("### %s, %lld x %lld\n\n", label, static_cast<long long>(rows), static_cast<long long>(cols));
  std::printf(
      "Rows mode in slices of %lld rows (quantctl's default 4 MiB chunks), each with its own codebook; "
      "matrix mode on the whole matrix. Encode time on the shared 2-core machine, all threads.\n\n",
      static_cast<long long>(ChunkRows(cols)));
  std::printf(
      "| bits | setting | bits/weight | SQNR dB | rel. error | greedy steps/vector | not converged | rows "
      "kept | encode s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::vector<Setting> settings = {
      {"RTN g128", "rtn", {}},
      {"Kashin rows hadamard", "kashin", {}},
      {"Kashin rows hadamard, step_choice=vector", "kashin", {{"step_choice", "vector"}}},
      {"Kashin rows hadamard, tolerance 1e-2", "kashin", {{"tolerance", "0.01"}}},
      {"Kashin rows hadamard, tolerance 1e-6 (paper), max_iterations 1000",
       "kashin",
       {{"tolerance", "1e-6"}, {"max_iterations", "1000"}}},
      {"Kashin rows dct", "kashin", {{"transform", "dct"}}},
      {"Kashin rows dct_signed", "kashin", {{"transform", "dct_signed"}}},
      {"Kashin rows qr, block 256", "kashin", {{"transform", "qr"}, {"block_length", "256"}}},
  };
  if (with_matrix) {
    // Not converged after 200 steps on the heavy-tailed matrix: with the default
    // non_converged=keep the whole tensor would be stored in f16 (16 + b bits per weight), so it is
    // shown quantized anyway.
    settings.push_back({"Kashin matrix hadamard (non_converged=quantize)",
                        "kashin",
                        {{"mode", "matrix"}, {"non_converged", "quantize"}}});
  }
  for (int bits = 2; bits <= 4; ++bits) {
    for (const Setting& s : settings) {
      Params p = s.params;
      p.SetInt("bits", bits);
      const bool matrix = s.params.GetString("mode", "rows") == "matrix";
      const Result r = Run(s.method, p, w, rows, cols, matrix ? rows : ChunkRows(cols));
      if (std::string(s.method) == "rtn") {
        std::printf("| %d | %s | %.3f | %.2f | %.4f | | | | %.2f |\n", bits, s.label, r.Bpw(), r.Sqnr(),
                    r.RelErr(), r.seconds);
      } else {
        std::printf("| %d | %s | %.3f | %.2f | %.4f | %.1f | %.0f | %.0f | %.2f |\n", bits, s.label, r.Bpw(),
                    r.Sqnr(), r.RelErr(), r.steps / r.vectors, r.not_converged, r.unquantized, r.seconds);
      }
      std::fflush(stdout);
    }
  }
  std::printf("\n");
}

// SQNR of the rows-mode pipeline (Hadamard, slice step choice, default tolerance; all rows one
// slice) with the rows scaled either by
// their own RMS (the method) or all by the slice's RMS, clustered by the same k-means.
double NormalisationSqnr(const std::vector<float>& w, int64_t rows, int64_t cols, int bits, bool per_row) {
  using namespace kashin_internal;
  auto q = *GetTransform(TransformKind::kHadamard, cols, 0);
  double all = 0;
  for (float x : w) all += static_cast<double>(x) * x;
  const float slice_scale = static_cast<float>(std::sqrt(all / static_cast<double>(w.size())));
  std::vector<float> u(w.size()), v(w.size()), s(static_cast<size_t>(rows)), x(w.size());
  std::vector<VectorTask> tasks;
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < cols; ++i) ss += static_cast<double>(w[r * cols + i]) * w[r * cols + i];
    s[r] = per_row ? static_cast<float>(std::sqrt(ss / cols)) : slice_scale;
    for (int64_t i = 0; i < cols; ++i) x[r * cols + i] = s[r] > 0 ? w[r * cols + i] / s[r] : 0.0f;
    tasks.push_back({q.get(), x.data() + r * cols, u.data() + r * cols, v.data() + r * cols});
  }
  DecomposeSlice(tasks, GreedyOptions{1e-3, 100});
  KashinOptions o;
  o.bits = bits;
  std::vector<uint8_t> lab(w.size());
  const Codebook c = KMeans2D(u.data(), v.data(), rows * cols, KMeansOptionsFor(o), lab.data());
  double se = 0, ss = 0;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> a(cols), b(cols);
    for (int64_t i = 0; i < cols; ++i) {
      a[i] = c.cu[lab[r * cols + i]];
      b[i] = c.cv[lab[r * cols + i]];
    }
    q->Inverse(b.data());
    for (int64_t i = 0; i < cols; ++i) {
      const double y = s[r] * (a[i] + b[i]), t = w[r * cols + i];
      se += (t - y) * (t - y);
      ss += t * t;
    }
  }
  return 10 * std::log10(ss / se);
}

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) {
  using namespace quantd::bench;
  std::string data = "../shared/data";
  int64_t rows = 4096;
  bool matrix_synthetic = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--data") && i + 1 < argc)
      data = argv[++i];
    else if (!std::strcmp(argv[i], "--rows") && i + 1 < argc)
      rows = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-matrix-synthetic"))
      matrix_synthetic = false;
    else {
      std::fprintf(stderr, "usage: kashin_quality [--data DIR] [--rows N] [--no-matrix-synthetic]\n");
      return 2;
    }
  }
  std::printf("## Quality\n\n");
  RealModel(data, "stories260K", "stories260K/stories260K.bin");
  RealModel(data, "en10", "en10_babyllama_tok105/model5000.bin");
  const int64_t cols = 4096;
  Synthetic("Heavy-tailed synthetic (Student-t nu=4, 4 outlier columns x20)",
            HeavyTailedMatrix(rows, cols, 1), rows, cols, matrix_synthetic);
  Synthetic("Gaussian synthetic", GaussianMatrix(rows, cols, 2), rows, cols, false);

  std::printf("### Scale: per-row RMS (the method) or one scale per slice\n\n");
  std::printf(
      "Rows mode, Hadamard, step_choice=slice, same k-means, all rows one slice; SQNR in dB.\n\n"
      "| data | bits | per-row RMS | slice RMS |\n|---|---|---|---|\n");
  const auto stories = ReadLlama2c(data + "/stories260K/stories260K.bin");
  const auto heavy = HeavyTailedMatrix(1024, cols, 3);
  for (int bits = 2; bits <= 4; ++bits) {
    // stories260K: w1 of layer 0 (172 x 64) and wo of layer 2 (64 x 64), concatenated results.
    for (const char* name : {"layers.0.w1", "layers.2.wo"}) {
      for (const auto& m : stories) {
        if (m.name != name) continue;
        std::printf("| stories260K %s | %d | %.2f | %.2f |\n", name, bits,
                    NormalisationSqnr(m.data, m.rows, m.cols, bits, true),
                    NormalisationSqnr(m.data, m.rows, m.cols, bits, false));
      }
    }
    std::printf("| heavy-tailed 1024x4096 | %d | %.2f | %.2f |\n", bits,
                NormalisationSqnr(heavy, 1024, cols, bits, true),
                NormalisationSqnr(heavy, 1024, cols, bits, false));
    std::fflush(stdout);
  }
  return 0;
}
