// The 2-D weight matrices of the real llama2.c models in the shared data folder, read straight
// from their .bin files (format: shared/data/README.md), so that core tests need nothing from
// client/.
#ifndef QUANTD_TESTS_CORE_REAL_WEIGHTS_H_
#define QUANTD_TESTS_CORE_REAL_WEIGHTS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace quantd::testing {

struct WeightMatrix {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
};

// $QUANTD_DATA_DIR, else the folder configured at build time.
inline std::string CoreDataDir() {
  if (const char* env = std::getenv("QUANTD_DATA_DIR")) return env;
  return QUANTD_DEFAULT_DATA_DIR;
}

// The per-layer projection matrices (wq, wk, wv, wo, w1, w2, w3) of a llama2.c checkpoint,
// [out][in] row-major; embeddings and norms are left out, as quantctl leaves them by default.
// Fails the test (it does not skip) when the file is missing: CI provides the data folder.
inline std::vector<WeightMatrix> ReadLlama2cMatrices(const std::string& rel_path) {
  const std::string path = CoreDataDir() + "/" + rel_path;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    ADD_FAILURE() << "real data file " << path
                  << " is missing; set QUANTD_DATA_DIR to the shared data folder";
    return {};
  }
  int32_t h[7];
  f.read(reinterpret_cast<char*>(h), sizeof(h));
  const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4];
  const int64_t vocab = h[5] < 0 ? -h[5] : h[5];
  const int64_t kv_dim = dim * kv_heads / heads;
  auto read = [&](int64_t count) {
    std::vector<float> v(static_cast<size_t>(count));
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * 4));
    return v;
  };
  read(vocab * dim);   // token embedding
  read(layers * dim);  // rms_att
  struct Kind {
    const char* name;
    int64_t rows, cols;
  };
  const Kind attn[] = {{"wq", dim, dim}, {"wk", kv_dim, dim}, {"wv", kv_dim, dim}, {"wo", dim, dim}};
  const Kind ffn[] = {{"w1", hidden, dim}, {"w2", dim, hidden}, {"w3", hidden, dim}};
  std::vector<WeightMatrix> out;
  auto take = [&](const Kind& k) {
    std::vector<float> all = read(layers * k.rows * k.cols);
    for (int64_t l = 0; l < layers; ++l) {
      WeightMatrix m{std::string("layers.") + std::to_string(l) + "." + k.name, k.rows, k.cols, {}};
      m.data.assign(all.begin() + l * k.rows * k.cols, all.begin() + (l + 1) * k.rows * k.cols);
      out.push_back(std::move(m));
    }
  };
  for (const Kind& k : attn) take(k);
  read(layers * dim);  // rms_ffn
  for (const Kind& k : ffn) take(k);
  if (!f) {
    ADD_FAILURE() << path << " is shorter than its header says";
    return {};
  }
  return out;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_CORE_REAL_WEIGHTS_H_
