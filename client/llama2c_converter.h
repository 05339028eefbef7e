// File: llama2c_converter.h
//
// Converts llama2.c checkpoints (Karpathy's run.c format, described in
// ../shared/data/README.md) to safetensors with conventional tensor names:
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
// The configuration goes into `__metadata__` as "llama2c.dim", "llama2c.hidden_dim", ...,
// "llama2c.shared_classifier", plus "format" = "pt".
#ifndef QUANTD_CLIENT_LLAMA2C_CONVERTER_H_
#define QUANTD_CLIENT_LLAMA2C_CONVERTER_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>

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
  std::map<std::string, std::string> ToMetadata() const;
  static StatusOr<Llama2cConfig> FromMetadata(const std::map<std::string, std::string>& metadata);
};

// Parses and checks the 28-byte header against the file size.
StatusOr<Llama2cConfig> ParseLlama2cHeader(std::span<const uint8_t> file);

// Converts `input` (a llama2.c .bin) to `output` (.safetensors, written atomically).
StatusOr<Llama2cConfig> ConvertLlama2cToSafetensors(const std::string& input, const std::string& output);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_LLAMA2C_CONVERTER_H_
