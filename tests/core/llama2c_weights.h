// Real trained weights for core tests and benchmarks, read straight from a llama2.c checkpoint
// (format in ../shared/data/README.md) so that nothing here depends on client/. Only the 2-D
// matrices are returned, named as client/llama2c_converter.cc names them.
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
  int64_t rows = 0;  // output channels
  int64_t cols = 0;  // input channels
  std::vector<float> data;
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

// The matrices of the checkpoint at `path`, in file order, or an empty vector with `*error` set
// when the file is missing or not a plausible llama2.c checkpoint.
inline std::vector<Llama2cMatrix> ReadLlama2cMatrices(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot open";
    return {};
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int32_t h[7];
  if (bytes.size() < sizeof(h)) {
    *error = path + ": shorter than the llama2.c header";
    return {};
  }
  memcpy(h, bytes.data(), sizeof(h));
  const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4];
  const int64_t vocab = h[5] < 0 ? -int64_t{h[5]} : h[5];
  if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kv_heads <= 0 || dim % heads != 0) {
    *error = path + ": implausible llama2.c header";
    return {};
  }
  const int64_t kv_dim = kv_heads * (dim / heads);
  std::vector<Llama2cMatrix> out;
  size_t offset = sizeof(h);
  // Consumes `count` (per layer when `layered`) values; keeps them when `name` is not empty.
  auto take = [&](const std::string& name, int64_t rows, int64_t cols, bool layered) {
    for (int64_t l = 0; l < (layered ? layers : 1); ++l) {
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
  take("tok_embeddings.weight", vocab, dim, false);
  take("", 1, dim, true);  // attention_norm
  take("attention.wq.weight", dim, dim, true);
  take("attention.wk.weight", kv_dim, dim, true);
  take("attention.wv.weight", kv_dim, dim, true);
  take("attention.wo.weight", dim, dim, true);
  take("", 1, dim, true);  // ffn_norm
  take("feed_forward.w1.weight", hidden, dim, true);
  take("feed_forward.w2.weight", dim, hidden, true);
  take("feed_forward.w3.weight", hidden, dim, true);
  if (!error->empty()) return {};
  return out;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_CORE_LLAMA2C_WEIGHTS_H_
