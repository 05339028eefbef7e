#include "client/model/llama_model.h"

#include <algorithm>
#include <cmath>

#include "client/io/quantized_layout.h"
#include "client/model/parallel_blocks.h"
#include "quantd/core/dtype.h"
#include "quantd/core/quantize.h"
#include "quantd/core/tensor_encoding.h"

namespace quantd::client {
namespace {

// Dot product in a fixed order: eight interleaved partial sums (which the compiler can keep in
// vector registers) combined as a fixed tree, then the tail. The same inputs give the same
// bits on any thread.
float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

// Work below which a parallel block is not worth its scheduling (multiply-adds).
constexpr int64_t kGrainMacs = 1 << 14;

// y[t, o] = W[o, :] · x[t, :] for t < rows, o < out; W is [out, in] row-major. Each output
// element is one Dot, on one thread.
void MatMul(const float* x, int64_t rows, const float* w, int64_t out, int64_t in, float* y) {
  const int64_t grain = std::max<int64_t>(1, kGrainMacs / std::max<int64_t>(in, 1));
  ParallelBlocks(0, rows * out, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = Dot(w + (i % out) * in, x + (i / out) * in, in);
  });
}

// out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + 1e-5) * gain.
void RmsNormRows(const float* x, int64_t rows, const float* gain, int64_t dim, float* out) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* r = x + t * dim;
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(r[i]) * r[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + 1e-5));
    for (int64_t i = 0; i < dim; ++i) out[t * dim + i] = r[i] * scale * gain[i];
  }
}

void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// The model also needs an even head size (rotary pairs).
bool Plausible(const Llama2cConfig& c) { return c.Plausible() && c.head_size() % 2 == 0; }

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The float values of tensor `name`, decoded when it is encoded; its shape must be `shape`.
StatusOr<std::vector<float>> ReadTensor(const QuantizedCheckpoint& q, const std::string& name,
                                        const std::vector<int64_t>& shape) {
  const std::string who = "tensor '" + name + "'";
  for (const auto& info : q.encoded()) {
    if (info.name != name) continue;
    if (info.shape != shape) {
      return InvalidArgumentError(who + " has shape " + ShapeText(info.shape) +
                                  "; the configuration implies " + ShapeText(shape));
    }
    std::vector<float> out(static_cast<size_t>(Product(shape)));
    QUANTD_ASSIGN_OR_RETURN(FlatTensorEncoding flat, q.Load(info));
    auto slices = SplitSlices(flat);
    if (!slices.ok()) return slices.status().WithContext(who);
    for (const Encoding& e : *slices) {
      const int64_t begin = e.row_begin * e.cols, count = e.rows() * e.cols;
      if (e.cols != shape.back() || begin < 0 || count < 0 ||
          begin + count > static_cast<int64_t>(out.size())) {
        return InvalidArgumentError(who + ": a slice's rows lie outside the tensor");
      }
      Status s = DecodeRows(e, std::span<float>(out.data() + begin, static_cast<size_t>(count)));
      if (!s.ok()) return s.WithContext(who);
    }
    return out;
  }
  for (const Checkpoint::Entry* e : q.plain()) {
    if (e->info->name != name) continue;
    if (e->info->shape != shape) {
      return InvalidArgumentError(who + " has shape " + ShapeText(e->info->shape) +
                                  "; the configuration implies " + ShapeText(shape));
    }
    const DType dt = e->info->dtype;
    if (!(dt == DType::kF32 || dt == DType::kF16 || dt == DType::kBF16)) {
      return InvalidArgumentError(who + " has dtype " + std::string(DTypeName(dt)) +
                                  "; F32, F16 or BF16 expected");
    }
    std::vector<float> out(static_cast<size_t>(Product(shape)));
    QUANTD_RETURN_IF_ERROR(ConvertToFloat(dt, e->file->Data(*e->info), out));
    return out;
  }
  return InvalidArgumentError(who + " is missing");
}

}  // namespace

StatusOr<LlamaModel> LlamaModel::Load(const std::string& path) {
  QUANTD_ASSIGN_OR_RETURN(auto q, QuantizedCheckpoint::Open(path));
  auto config = Llama2cConfig::FromMetadata(q->checkpoint().metadata());
  if (!config.ok()) {
    return InvalidArgumentError(path + ": not a llama2.c-architecture checkpoint (" +
                                config.status().message() +
                                "; convert the model with quantctl convert-llama2c)");
  }
  if (!Plausible(*config))
    return InvalidArgumentError(path + ": the llama2c.* configuration is not plausible");
  std::map<std::string, std::vector<float>> tensors;
  for (const auto& [name, shape] : config->TensorShapes()) {
    auto t = ReadTensor(*q, name, shape);
    if (!t.ok()) return t.status().WithContext(path);
    tensors[name] = std::move(*t);
  }
  auto model = FromTensors(*config, std::move(tensors));
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

StatusOr<LlamaModel> LlamaModel::FromTensors(const Llama2cConfig& config,
                                             std::map<std::string, std::vector<float>> tensors) {
  if (!Plausible(config)) return InvalidArgumentError("the llama2.c configuration is not plausible");
  for (const auto& [name, shape] : config.TensorShapes()) {
    auto it = tensors.find(name);
    if (it == tensors.end()) return InvalidArgumentError("tensor '" + name + "' is missing");
    if (static_cast<int64_t>(it->second.size()) != Product(shape)) {
      return InvalidArgumentError("tensor '" + name + "' has " + std::to_string(it->second.size()) +
                                  " values; shape " + ShapeText(shape) + " needs " +
                                  std::to_string(Product(shape)));
    }
  }
  LlamaModel m;
  m.config_ = config;
  auto take = [&](const std::string& name) { return std::move(tensors.at(name)); };
  m.embedding_ = take("tok_embeddings.weight");
  for (int l = 0; l < config.n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    m.layers_.push_back({take(p + "attention_norm.weight"), take(p + "attention.wq.weight"),
                         take(p + "attention.wk.weight"), take(p + "attention.wv.weight"),
                         take(p + "attention.wo.weight"), take(p + "ffn_norm.weight"),
                         take(p + "feed_forward.w1.weight"), take(p + "feed_forward.w2.weight"),
                         take(p + "feed_forward.w3.weight")});
  }
  m.final_norm_ = take("norm.weight");
  if (!config.shared_classifier) m.classifier_ = take("output.weight");
  const int64_t half = config.head_size() / 2;
  m.rope_cos_.resize(static_cast<size_t>(config.seq_len * half));
  m.rope_sin_.resize(m.rope_cos_.size());
  for (int64_t pos = 0; pos < config.seq_len; ++pos) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle =
          static_cast<double>(pos) *
          std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(config.head_size()));
      m.rope_cos_[pos * half + i] = static_cast<float>(std::cos(angle));
      m.rope_sin_[pos * half + i] = static_cast<float>(std::sin(angle));
    }
  }
  return m;
}

LlamaModel::KvCache LlamaModel::NewCache() const {
  const size_t n =
      static_cast<size_t>(config_.n_layers) * config_.seq_len * config_.n_kv_heads * config_.head_size();
  return {0, std::vector<float>(n), std::vector<float>(n)};
}

Status LlamaModel::Forward(std::span<const int32_t> tokens, KvCache& cache, std::span<float> logits,
                           const ActivationObserver* observer) const {
  const Llama2cConfig& c = config_;
  const int64_t rows = static_cast<int64_t>(tokens.size()), p0 = cache.length;
  const int64_t dim = c.dim, hs = c.head_size(), hidden = c.hidden_dim, vocab = c.vocab_size;
  const int64_t q_dim = c.n_heads * hs, kv_dim = c.n_kv_heads * hs, group = c.n_heads / c.n_kv_heads;
  const int64_t cache_floats = static_cast<int64_t>(c.n_layers) * c.seq_len * kv_dim;
  if (static_cast<int64_t>(cache.k.size()) != cache_floats ||
      static_cast<int64_t>(cache.v.size()) != cache_floats || p0 < 0) {
    return InvalidArgumentError("the KV cache was not made by this model's NewCache()");
  }
  if (p0 + rows > c.seq_len) {
    return InvalidArgumentError("positions " + std::to_string(p0) + ".." + std::to_string(p0 + rows - 1) +
                                " exceed the model's seq_len " + std::to_string(c.seq_len));
  }
  if (static_cast<int64_t>(logits.size()) != rows * vocab) {
    return InvalidArgumentError("logits hold " + std::to_string(logits.size()) + " floats; " +
                                std::to_string(rows) + " tokens need " + std::to_string(rows * vocab));
  }
  std::vector<float> x(static_cast<size_t>(rows * dim));
  for (int64_t t = 0; t < rows; ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab) {
      return InvalidArgumentError("token " + std::to_string(t) + " has id " + std::to_string(tokens[t]) +
                                  ", outside the vocabulary of " + std::to_string(vocab));
    }
    std::copy_n(embedding_.begin() + tokens[t] * dim, dim, x.begin() + t * dim);
  }
  std::vector<float> xb(x.size()), q(static_cast<size_t>(rows * q_dim)), att(q.size());
  std::vector<float> h1(static_cast<size_t>(rows * hidden)), h3(h1.size());
  const int64_t half = hs / 2;
  // Rotates pairs (2i, 2i+1) of each head of row t by the angle of position p0 + t.
  auto rope = [&](float* v, int64_t heads) {
    for (int64_t t = 0; t < rows; ++t) {
      const float* cs = rope_cos_.data() + (p0 + t) * half;
      const float* sn = rope_sin_.data() + (p0 + t) * half;
      for (int64_t h = 0; h < heads; ++h) {
        float* r = v + (t * heads + h) * hs;
        for (int64_t i = 0; i < half; ++i) {
          const float a = r[2 * i], b = r[2 * i + 1];
          r[2 * i] = a * cs[i] - b * sn[i];
          r[2 * i + 1] = a * sn[i] + b * cs[i];
        }
      }
    }
  };
  const float inv_sqrt_hs = 1.0f / std::sqrt(static_cast<float>(hs));
  auto observe = [&](int layer, std::string_view site, const std::vector<float>& v, int64_t width) {
    if (observer != nullptr)
      (*observer)(layer, site, rows, width, std::span<const float>(v.data(), rows * width));
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const Layer& L = layers_[l];
    float* kc = cache.k.data() + l * c.seq_len * kv_dim;  // [seq_len, kv_dim] of this layer
    float* vc = cache.v.data() + l * c.seq_len * kv_dim;
    RmsNormRows(x.data(), rows, L.attention_norm.data(), dim, xb.data());
    observe(static_cast<int>(l), "attention_in", xb, dim);
    MatMul(xb.data(), rows, L.wq.data(), q_dim, dim, q.data());
    MatMul(xb.data(), rows, L.wk.data(), kv_dim, dim, kc + p0 * kv_dim);
    MatMul(xb.data(), rows, L.wv.data(), kv_dim, dim, vc + p0 * kv_dim);
    rope(q.data(), c.n_heads);
    rope(kc + p0 * kv_dim, c.n_kv_heads);
    // Causal attention, one (position, head) per item.
    ParallelBlocks(0, rows * c.n_heads, std::max<int64_t>(1, kGrainMacs / (2 * hs * (p0 + rows))),
                   [&](int64_t b, int64_t e) {
                     std::vector<float> score(static_cast<size_t>(p0 + rows));
                     for (int64_t item = b; item < e; ++item) {
                       const int64_t t = item / c.n_heads, h = item % c.n_heads, kvh = h / group;
                       const int64_t n = p0 + t + 1;  // positions visible from p0 + t
                       const float* qh = q.data() + t * q_dim + h * hs;
                       float mx = -INFINITY;
                       for (int64_t s = 0; s < n; ++s) {
                         score[s] = Dot(qh, kc + s * kv_dim + kvh * hs, hs) * inv_sqrt_hs;
                         mx = std::max(mx, score[s]);
                       }
                       float sum = 0;
                       for (int64_t s = 0; s < n; ++s) {
                         score[s] = std::exp(score[s] - mx);
                         sum += score[s];
                       }
                       float* out = att.data() + t * q_dim + h * hs;
                       std::fill_n(out, hs, 0.0f);
                       for (int64_t s = 0; s < n; ++s) {
                         const float a = score[s] / sum;
                         const float* vs = vc + s * kv_dim + kvh * hs;
                         for (int64_t i = 0; i < hs; ++i) out[i] += a * vs[i];
                       }
                     }
                   });
    observe(static_cast<int>(l), "attention_out", att, q_dim);
    MatMul(att.data(), rows, L.wo.data(), dim, q_dim, xb.data());
    AddInPlace(x.data(), xb.data(), rows * dim);
    RmsNormRows(x.data(), rows, L.ffn_norm.data(), dim, xb.data());
    observe(static_cast<int>(l), "ffn_in", xb, dim);
    MatMul(xb.data(), rows, L.w1.data(), hidden, dim, h1.data());
    MatMul(xb.data(), rows, L.w3.data(), hidden, dim, h3.data());
    for (size_t i = 0; i < h1.size(); ++i) h1[i] = h1[i] / (1.0f + std::exp(-h1[i])) * h3[i];
    observe(static_cast<int>(l), "ffn_hidden", h1, hidden);
    MatMul(h1.data(), rows, L.w2.data(), dim, hidden, xb.data());
    AddInPlace(x.data(), xb.data(), rows * dim);
  }
  RmsNormRows(x.data(), rows, final_norm_.data(), dim, xb.data());
  observe(-1, "final", xb, dim);
  const std::vector<float>& cls = c.shared_classifier ? embedding_ : classifier_;
  MatMul(xb.data(), rows, cls.data(), vocab, dim, logits.data());
  cache.length = p0 + rows;
  return OkStatus();
}

}  // namespace quantd::client
