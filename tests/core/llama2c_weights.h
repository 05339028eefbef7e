// Real trained weights for core tests and quality programs, read straight from a llama2.c
// checkpoint (format in ../shared/data/README.md) so that nothing here depends on client/.
// Tensors are named as client/llama2c_converter.cc names them.
#ifndef QUANTD_TESTS_CORE_LLAMA2C_WEIGHTS_H_
#define QUANTD_TESTS_CORE_LLAMA2C_WEIGHTS_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace quantd::testing {

struct Llama2cMatrix {
  std::string name;  // "tok_embeddings.weight", "layers.0.attention.wq.weight", ...
  int64_t rows = 0;  // output channels (1 for the RMSNorm weights)
  int64_t cols = 0;  // input channels
  std::vector<float> data;

  bool is_norm() const { return rows == 1; }
};

struct Llama2cWeights {
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  std::vector<Llama2cMatrix> tensors;  // file order; the RoPE tables are skipped

  // The tensor called `name`, or null.
  const Llama2cMatrix* Find(const std::string& name) const {
    for (const auto& t : tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
  // The linear layers' weights (wq, wk, wv, wo, w1, w2, w3 of every layer), in file order.
  std::vector<Llama2cMatrix> LinearLayers() const {
    std::vector<Llama2cMatrix> out;
    for (const auto& t : tensors) {
      if (!t.is_norm() && t.name.rfind("layers.", 0) == 0) out.push_back(t);
    }
    return out;
  }
};

// The real-data folder: $QUANTD_DATA_DIR, else the folder the build was configured with.
inline std::string RealDataDir() {
  if (const char* env = std::getenv("QUANTD_DATA_DIR")) return env;
#ifdef QUANTD_DEFAULT_DATA_DIR
  return QUANTD_DEFAULT_DATA_DIR;
#else
  return "../shared/data";
#endif
}

// The checkpoint at `path`; on failure (missing file, implausible header, wrong size) an empty
// tensor list with `*error` set.
inline Llama2cWeights ReadLlama2c(const std::string& path, std::string* error) {
  Llama2cWeights w;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot open";
    return w;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int32_t h[7];
  if (bytes.size() < sizeof(h)) {
    *error = path + ": shorter than the llama2.c header";
    return w;
  }
  memcpy(h, bytes.data(), sizeof(h));
  w.dim = h[0], w.hidden_dim = h[1], w.n_layers = h[2], w.n_heads = h[3], w.n_kv_heads = h[4];
  w.vocab_size = h[5] < 0 ? -int64_t{h[5]} : h[5], w.seq_len = h[6], w.shared_classifier = h[5] > 0;
  if (w.dim <= 0 || w.hidden_dim <= 0 || w.n_layers <= 0 || w.n_heads <= 0 || w.n_kv_heads <= 0 ||
      w.seq_len <= 0 || w.dim % w.n_heads != 0) {
    *error = path + ": implausible llama2.c header";
    return w;
  }
  const int64_t head_size = w.dim / w.n_heads, kv_dim = w.n_kv_heads * head_size;
  size_t offset = sizeof(h);
  std::vector<Llama2cMatrix> out;
  // Takes the next rows x cols values, once per layer when `layered`; skips them when `name` is
  // empty.
  auto take = [&](const std::string& name, int64_t rows, int64_t cols, bool layered) {
    for (int64_t l = 0; l < (layered ? w.n_layers : 1); ++l) {
      const size_t n = static_cast<size_t>(rows * cols);
      if (offset + 4 * n > bytes.size()) {
        *error = path + ": truncated";
        return;
      }
      if (!name.empty()) {
        Llama2cMatrix m{layered ? "layers." + std::to_string(l) + "." + name : name, rows, cols,
                        std::vector<float>(n)};
        memcpy(m.data.data(), bytes.data() + offset, 4 * n);
        out.push_back(std::move(m));
      }
      offset += 4 * n;
    }
  };
  take("tok_embeddings.weight", w.vocab_size, w.dim, false);
  take("attention_norm.weight", 1, w.dim, true);
  take("attention.wq.weight", w.dim, w.dim, true);
  take("attention.wk.weight", kv_dim, w.dim, true);
  take("attention.wv.weight", kv_dim, w.dim, true);
  take("attention.wo.weight", w.dim, w.dim, true);
  take("ffn_norm.weight", 1, w.dim, true);
  take("feed_forward.w1.weight", w.hidden_dim, w.dim, true);
  take("feed_forward.w2.weight", w.dim, w.hidden_dim, true);
  take("feed_forward.w3.weight", w.hidden_dim, w.dim, true);
  take("norm.weight", 1, w.dim, false);
  take("", w.seq_len, head_size, false);  // unused RoPE tables
  if (!w.shared_classifier) take("output.weight", w.vocab_size, w.dim, false);
  if (error->empty() && offset != bytes.size()) {
    *error = path + ": " + std::to_string(bytes.size() - offset) + " bytes beyond the tensors";
  }
  if (error->empty()) w.tensors = std::move(out);
  return w;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_CORE_LLAMA2C_WEIGHTS_H_
