// File: llama_model.h
//
// A llama2.c-architecture model held as float weights, with its forward pass, for evaluating
// float and quantized checkpoints (perplexity.h).
//
// Weights come from a safetensors checkpoint written by `quantctl convert-llama2c` (tensor
// names in llama2c_converter.h, configuration in its "llama2c.*" metadata) or from a quantized
// checkpoint made from one: encoded tensors are decoded in memory (the method's own decoder,
// as `quantctl dequantize` does), plain ones converted from F32/F16/BF16.
//
// The forward pass is llama2.c's (shared/data/README.md): token embedding; per layer RMSNorm
// (eps 1e-5), q/k/v projections, rotary embeddings on q and k (pairs (2i, 2i+1) of each head
// rotated by pos · 10000^(-2i/head_size)), causal grouped-query attention (query head h reads
// kv head h / (n_heads / n_kv_heads)), output projection, residual; RMSNorm, SwiGLU feed-forward
// w2(silu(w1·x) ⊙ w3·x), residual; final RMSNorm; classifier (the embedding when shared).
//
// `Forward` processes a run of tokens continuing a sequence whose keys and values are in a
// `KvCache`: a whole window at once (matrix products over all its positions) or one token at a
// time (generation). Every value at a position is computed the same way whichever way the
// sequence is cut, so logits are bit-identical across chunkings, and each output element is
// computed by one thread with a fixed summation order, so they do not depend on the thread
// count either. Work is spread over TBB by rows and heads.
//
// An `ActivationObserver` passed to Forward sees the input of every linear layer as it is
// computed (activation statistics, calibration data): per layer the inputs of wq/wk/wv
// ("attention_in"), of wo ("attention_out"), of w1/w3 ("ffn_in") and of w2 ("ffn_hidden"), and
// the classifier's ("final", layer -1).
#ifndef QUANTD_CLIENT_MODEL_LLAMA_MODEL_H_
#define QUANTD_CLIENT_MODEL_LLAMA_MODEL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/model/llama2c.h"
#include "quantd/core/status.h"

namespace quantd::client {

// Receives [rows, width] row-major inputs of linear layers (see above). Called on the thread
// that runs Forward, in layer order.
using ActivationObserver = std::function<void(int layer, std::string_view site, int64_t rows, int64_t width,
                                              std::span<const float> values)>;

class LlamaModel {
 public:
  // Keys and values of the positions run so far, [layer][position][kv_dim] each.
  struct KvCache {
    int64_t length = 0;  // positions filled
    std::vector<float> k, v;
  };

  // Loads a float or quantized checkpoint (file, index or folder). INVALID_ARGUMENT naming the
  // path when the metadata lacks the llama2c configuration, naming the tensor when one is
  // missing, has the wrong shape or fails to decode.
  static StatusOr<LlamaModel> Load(const std::string& path);
  // Builds a model from named float tensors (the converter's names and shapes, row-major).
  static StatusOr<LlamaModel> FromTensors(const Llama2cConfig& config,
                                          std::map<std::string, std::vector<float>> tensors);

  const Llama2cConfig& config() const { return config_; }
  KvCache NewCache() const;

  // Runs `tokens` at positions cache.length, cache.length + 1, ... (appending their keys and
  // values to the cache) and writes their next-token logits to `logits` [tokens.size(), vocab].
  // INVALID_ARGUMENT when a token id is outside the vocabulary, the sequence would exceed
  // seq_len, or `logits` has the wrong size.
  // `observer` (may be null) sees every linear layer's input.
  Status Forward(std::span<const int32_t> tokens, KvCache& cache, std::span<float> logits,
                 const ActivationObserver* observer = nullptr) const;

 private:
  struct Layer {
    std::vector<float> attention_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3;
  };
  LlamaModel() = default;

  Llama2cConfig config_;
  std::vector<float> embedding_;  // [vocab, dim]
  std::vector<Layer> layers_;
  std::vector<float> final_norm_;           // [dim]
  std::vector<float> classifier_;           // [vocab, dim]; empty when shared with the embedding
  std::vector<float> rope_cos_, rope_sin_;  // [seq_len, head_size / 2]
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_LLAMA_MODEL_H_
