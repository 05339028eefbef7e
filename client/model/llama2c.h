// File: llama2c.h
//
// llama2.c checkpoints (Karpathy's run.c format, described in ../shared/data/README.md): the
// configuration, and the weights read as named float tensors. The one reader of the format:
// the converter (llama2c_converter.h), the model (llama_model.h), the core tests and the
// quality programs all use it. Needs only the core, so it builds on GPU machines too.
//
// Tensor names and shapes, in file order:
//
//   tok_embeddings.weight                 [vocab, dim]
//   layers.{i}.attention_norm.weight      [dim]
//   layers.{i}.attention.wq.weight        [n_heads*head_size, dim]
//   layers.{i}.attention.wk.weight        [n_kv_heads*head_size, dim]   (also wv)
//   layers.{i}.attention.wo.weight        [dim, n_heads*head_size]
//   layers.{i}.ffn_norm.weight            [dim]
//   layers.{i}.feed_forward.w1.weight     [hidden, dim]                 (also w3)
//   layers.{i}.feed_forward.w2.weight     [dim, hidden]
//   norm.weight                           [dim]
//   output.weight                         [vocab, dim]   only when the classifier is not shared
//
// (The file stores the tensors grouped by kind across layers; the list above is per layer.)
#ifndef QUANTD_CLIENT_MODEL_LLAMA2C_H_
#define QUANTD_CLIENT_MODEL_LLAMA2C_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "quantd/core/status.h"

namespace quantd::client {

struct Llama2cConfig {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // always positive here
  int32_t seq_len = 0;
  bool shared_classifier = true;

  int32_t head_size() const { return dim / n_heads; }
  // Number of weights (excluding the unused RoPE tables).
  int64_t parameter_count() const;
  // Within the limits quantd accepts, and consistent (heads divide dim, kv heads divide heads).
  bool Plausible() const;
  // "llama2c.dim", "llama2c.hidden_dim", ..., "llama2c.shared_classifier", and "format" = "pt".
  std::map<std::string, std::string> ToMetadata() const;
  static StatusOr<Llama2cConfig> FromMetadata(const std::map<std::string, std::string>& metadata);
  // Every tensor's name and shape, in the order of the list above (layer by layer).
  std::vector<std::pair<std::string, std::vector<int64_t>>> TensorShapes() const;
};

// Parses and checks the 28-byte header against the file's size.
StatusOr<Llama2cConfig> ParseLlama2cHeader(std::span<const uint8_t> file);

// One weight tensor of a llama2.c file.
struct Llama2cTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;  // F32 little-endian, a view into Llama2cFile::bytes

  int64_t rows() const { return shape.size() == 1 ? 1 : shape[0]; }
  int64_t cols() const { return shape.back(); }
  bool is_norm() const { return shape.size() == 1; }
  // The values, copied.
  std::vector<float> Values() const;
};

// A whole llama2.c file in memory, with its tensors in file order (the RoPE tables skipped).
struct Llama2cFile {
  Llama2cConfig config;
  std::vector<uint8_t> bytes;
  std::vector<Llama2cTensor> tensors;

  const Llama2cTensor* Find(const std::string& name) const;
  // The linear layers' weights (wq, wk, wv, wo, w1, w2, w3 of every layer), in file order.
  std::vector<const Llama2cTensor*> LinearLayers() const;
};

// Reads `path`. NOT_FOUND when it cannot be opened; INVALID_ARGUMENT (naming the path) when the
// header is implausible or the size does not match it (truncated files included).
StatusOr<std::unique_ptr<Llama2cFile>> ReadLlama2c(const std::string& path);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_LLAMA2C_H_
