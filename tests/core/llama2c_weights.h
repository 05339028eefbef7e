// The linear-layer weight matrices of a llama2.c checkpoint, read straight from its .bin (format
// in ../shared/data/README.md), so that core tests and benchmarks can use real trained weights
// without the client's converter. Only what the tests need: wq, wk, wv, wo, w1, w2, w3 of every
// layer, in file order.
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

struct WeightMatrix {
  std::string name;  // "layers.0.wq"
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
};

// The real-data folder: $QUANTD_DATA_DIR, else the build's default (../shared/data beside the
// source tree).
inline std::string RealDataDir() {
  if (const char* env = std::getenv("QUANTD_DATA_DIR")) return env;
#ifdef QUANTD_TEST_DATA_DIR
  return QUANTD_TEST_DATA_DIR;
#else
  return "../shared/data";
#endif
}

// The matrices of `path`; empty when the file is missing or malformed (callers fail the test:
// the data folder is part of CI).
inline std::vector<WeightMatrix> ReadLlama2cLinearWeights(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 28) return {};
  int32_t h[7];
  memcpy(h, bytes.data(), sizeof(h));
  const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4];
  const int64_t vocab = h[5] < 0 ? -h[5] : h[5];
  const int64_t head_size = dim / heads, kv = kv_heads * head_size;
  size_t pos = 28;
  auto skip = [&](int64_t n) { pos += static_cast<size_t>(n) * 4; };
  std::vector<WeightMatrix> out;
  auto take = [&](const char* name, int64_t rows, int64_t cols) {
    for (int64_t l = 0; l < layers; ++l) {
      WeightMatrix m{"layers." + std::to_string(l) + "." + name, rows, cols,
                     std::vector<float>(static_cast<size_t>(rows * cols))};
      if (pos + m.data.size() * 4 > bytes.size()) return false;
      memcpy(m.data.data(), bytes.data() + pos, m.data.size() * 4);
      pos += m.data.size() * 4;
      out.push_back(std::move(m));
    }
    return true;
  };
  skip(vocab * dim);   // token embedding
  skip(layers * dim);  // rms_att
  if (!take("wq", heads * head_size, dim) || !take("wk", kv, dim) || !take("wv", kv, dim) ||
      !take("wo", dim, heads * head_size)) {
    return {};
  }
  skip(layers * dim);  // rms_ffn
  if (!take("w1", hidden, dim) || !take("w2", dim, hidden) || !take("w3", hidden, dim)) return {};
  return out;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_CORE_LLAMA2C_WEIGHTS_H_
