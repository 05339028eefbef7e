// The inputs of every linear layer of a llama2.c model over a run of tokens, from a plain
// forward pass (llama2.c's run.c, the architecture client/llama_model.h describes), for
// measuring activation quantization. client::LlamaModel computes the same logits but does not
// expose its intermediate values; the caller checks the two agree.
#ifndef QUANTD_BENCH_LLAMA2C_ACTIVATIONS_H_
#define QUANTD_BENCH_LLAMA2C_ACTIVATIONS_H_

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "llama2c_weights.h"

namespace quantd::bench {

// Activation matrices, rows = tokens (appended run after run), named per layer
// "layers.L.attention_in" (input of wq, wk, wv), "layers.L.attention_out" (input of wo),
// "layers.L.ffn_in" (input of w1, w3), "layers.L.ffn_hidden" (input of w2: silu(w1 x) * w3 x),
// and "final" (input of the classifier).
struct Activations {
  std::vector<testing::Llama2cMatrix> matrices;
  std::vector<float> logits;  // [tokens, vocab] of the last run

  testing::Llama2cMatrix& Get(const std::string& name, int64_t cols) {
    for (auto& m : matrices) {
      if (m.name == name) return m;
    }
    matrices.push_back({name, 0, cols, {}});
    return matrices.back();
  }
  void Append(const std::string& name, std::span<const float> row) {
    auto& m = Get(name, static_cast<int64_t>(row.size()));
    m.data.insert(m.data.end(), row.begin(), row.end());
    ++m.rows;
  }
};

namespace llama2c_internal {

inline void RmsNorm(const float* x, const float* weight, int64_t n, float* out) {
  float ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  ss = 1.0f / std::sqrt(ss / static_cast<float>(n) + 1e-5f);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

// out[rows] = W[rows, cols] x[cols]
inline void MatVec(const testing::Llama2cMatrix& w, const float* x, float* out) {
  for (int64_t r = 0; r < w.rows; ++r) {
    float s = 0;
    for (int64_t c = 0; c < w.cols; ++c) s += w.data[r * w.cols + c] * x[c];
    out[r] = s;
  }
}

}  // namespace llama2c_internal

// Runs `tokens` as one sequence from position 0, appending every linear layer's input to `acts`
// and leaving the logits of this run in acts->logits.
inline void RunCapturing(const testing::Llama2cWeights& w, std::span<const int32_t> tokens,
                         Activations* acts) {
  using llama2c_internal::MatVec;
  using llama2c_internal::RmsNorm;
  const int64_t dim = w.dim, hidden = w.hidden_dim, hs = dim / w.n_heads, kv_dim = w.n_kv_heads * hs;
  const int64_t group = w.n_heads / w.n_kv_heads, n = static_cast<int64_t>(tokens.size());
  auto get = [&](const std::string& name) { return w.Find(name); };
  const auto* embedding = get("tok_embeddings.weight");
  const auto* classifier = w.shared_classifier ? embedding : get("output.weight");
  std::vector<float> keys(w.n_layers * n * kv_dim), values(w.n_layers * n * kv_dim);
  std::vector<float> x(dim), xb(dim), q(dim), att_out(dim), tmp(dim), h1(hidden), h3(hidden), scores(n);
  acts->logits.assign(n * w.vocab_size, 0.0f);
  for (int64_t pos = 0; pos < n; ++pos) {
    std::copy_n(embedding->data.begin() + tokens[pos] * dim, dim, x.begin());
    for (int64_t l = 0; l < w.n_layers; ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      RmsNorm(x.data(), get(p + "attention_norm.weight")->data.data(), dim, xb.data());
      acts->Append(p + "attention_in", xb);
      float* k = keys.data() + (l * n + pos) * kv_dim;
      float* v = values.data() + (l * n + pos) * kv_dim;
      MatVec(*get(p + "attention.wq.weight"), xb.data(), q.data());
      MatVec(*get(p + "attention.wk.weight"), xb.data(), k);
      MatVec(*get(p + "attention.wv.weight"), xb.data(), v);
      for (int64_t i = 0; i < dim; i += 2) {  // rotary embeddings, pairs (i, i + 1) within a head
        const float freq = 1.0f / std::pow(10000.0f, static_cast<float>(i % hs) / static_cast<float>(hs));
        const float angle = static_cast<float>(pos) * freq, c = std::cos(angle), s = std::sin(angle);
        for (float* vec : {q.data(), i < kv_dim ? k : nullptr}) {
          if (vec == nullptr) continue;
          const float a = vec[i], b = vec[i + 1];
          vec[i] = a * c - b * s;
          vec[i + 1] = a * s + b * c;
        }
      }
      for (int64_t h = 0; h < w.n_heads; ++h) {  // causal grouped-query attention
        const float* qh = q.data() + h * hs;
        const int64_t kvh = h / group;
        float max_score = -INFINITY;
        for (int64_t t = 0; t <= pos; ++t) {
          const float* kt = keys.data() + (l * n + t) * kv_dim + kvh * hs;
          float s = 0;
          for (int64_t i = 0; i < hs; ++i) s += qh[i] * kt[i];
          scores[t] = s / std::sqrt(static_cast<float>(hs));
          max_score = std::max(max_score, scores[t]);
        }
        float sum = 0;
        for (int64_t t = 0; t <= pos; ++t) sum += scores[t] = std::exp(scores[t] - max_score);
        float* out = att_out.data() + h * hs;
        std::fill(out, out + hs, 0.0f);
        for (int64_t t = 0; t <= pos; ++t) {
          const float* vt = values.data() + (l * n + t) * kv_dim + kvh * hs;
          for (int64_t i = 0; i < hs; ++i) out[i] += scores[t] / sum * vt[i];
        }
      }
      acts->Append(p + "attention_out", att_out);
      MatVec(*get(p + "attention.wo.weight"), att_out.data(), tmp.data());
      for (int64_t i = 0; i < dim; ++i) x[i] += tmp[i];
      RmsNorm(x.data(), get(p + "ffn_norm.weight")->data.data(), dim, xb.data());
      acts->Append(p + "ffn_in", xb);
      MatVec(*get(p + "feed_forward.w1.weight"), xb.data(), h1.data());
      MatVec(*get(p + "feed_forward.w3.weight"), xb.data(), h3.data());
      for (int64_t i = 0; i < hidden; ++i) h1[i] = h1[i] / (1.0f + std::exp(-h1[i])) * h3[i];
      acts->Append(p + "ffn_hidden", h1);
      MatVec(*get(p + "feed_forward.w2.weight"), h1.data(), tmp.data());
      for (int64_t i = 0; i < dim; ++i) x[i] += tmp[i];
    }
    RmsNorm(x.data(), get("norm.weight")->data.data(), dim, xb.data());
    acts->Append("final", xb);
    MatVec(*classifier, xb.data(), acts->logits.data() + pos * w.vocab_size);
  }
}

}  // namespace quantd::bench

#endif  // QUANTD_BENCH_LLAMA2C_ACTIVATIONS_H_
