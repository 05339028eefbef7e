// File: real_weights.h
//
// The real models of the shared data folder (../shared/data, README there) as float matrices,
// through the project's one llama2.c reader (client/model/llama2c.h). Needs only the core, so
// core tests and benchmarks use it on GPU machines too.
#ifndef QUANTD_TESTS_TESTING_REAL_WEIGHTS_H_
#define QUANTD_TESTS_TESTING_REAL_WEIGHTS_H_

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "client/model/llama2c.h"

namespace quantd::testing {

// The real-data folder: $QUANTD_DATA_DIR, else the folder the build was configured with.
inline std::string RealDataDir() {
  if (const char* env = std::getenv("QUANTD_DATA_DIR")) return env;
#ifdef QUANTD_DEFAULT_DATA_DIR
  return QUANTD_DEFAULT_DATA_DIR;
#else
  return "../shared/data";
#endif
}

// One tensor as a rows x cols float matrix (rows = output channels; 1 for the RMSNorm weights).
struct Llama2cMatrix {
  std::string name;  // "tok_embeddings.weight", "layers.0.attention.wq.weight", ...
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;

  bool is_norm() const { return rows == 1; }
};

struct Llama2cWeights {
  client::Llama2cConfig config;
  std::vector<Llama2cMatrix> tensors;  // file order

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

// The llama2.c checkpoint at `path`; on failure an empty tensor list with `*error` set.
inline Llama2cWeights ReadLlama2c(const std::string& path, std::string* error) {
  Llama2cWeights w;
  auto file = client::ReadLlama2c(path);
  if (!file.ok()) {
    *error = file.status().ToString();
    return w;
  }
  w.config = (*file)->config;
  for (const client::Llama2cTensor& t : (*file)->tensors)
    w.tensors.push_back({t.name, t.rows(), t.cols(), t.Values()});
  return w;
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_TESTING_REAL_WEIGHTS_H_
