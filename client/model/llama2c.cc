#include "client/model/llama2c.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

namespace quantd::client {

int64_t Llama2cConfig::parameter_count() const {
  const int64_t hs = head_size();
  const int64_t kv = static_cast<int64_t>(n_kv_heads) * hs;
  const int64_t per_layer = 2 * int64_t{dim} + int64_t{dim} * n_heads * hs + 2 * kv * dim +
                            int64_t{n_heads} * hs * dim + 3 * int64_t{hidden_dim} * dim;
  return int64_t{vocab_size} * dim * (shared_classifier ? 1 : 2) + n_layers * per_layer + dim;
}

bool Llama2cConfig::Plausible() const {
  return dim > 0 && hidden_dim > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 && vocab_size > 0 &&
         seq_len > 0 && dim % n_heads == 0 && n_heads % n_kv_heads == 0 && dim <= (1 << 16) &&
         hidden_dim <= (1 << 18) && n_layers <= 1024 && vocab_size <= (1 << 22) && seq_len <= (1 << 20);
}

std::map<std::string, std::string> Llama2cConfig::ToMetadata() const {
  return {{"format", "pt"},
          {"llama2c.dim", std::to_string(dim)},
          {"llama2c.hidden_dim", std::to_string(hidden_dim)},
          {"llama2c.n_layers", std::to_string(n_layers)},
          {"llama2c.n_heads", std::to_string(n_heads)},
          {"llama2c.n_kv_heads", std::to_string(n_kv_heads)},
          {"llama2c.vocab_size", std::to_string(vocab_size)},
          {"llama2c.seq_len", std::to_string(seq_len)},
          {"llama2c.shared_classifier", shared_classifier ? "true" : "false"}};
}

StatusOr<Llama2cConfig> Llama2cConfig::FromMetadata(const std::map<std::string, std::string>& m) {
  Llama2cConfig c;
  auto get = [&](const char* key, int32_t* out) -> Status {
    auto it = m.find(std::string("llama2c.") + key);
    if (it == m.end()) return InvalidArgumentError(std::string("metadata lacks llama2c.") + key);
    try {
      *out = std::stoi(it->second);
    } catch (...) {
      return InvalidArgumentError(std::string("metadata llama2c.") + key + " is not an integer");
    }
    return OkStatus();
  };
  QUANTD_RETURN_IF_ERROR(get("dim", &c.dim));
  QUANTD_RETURN_IF_ERROR(get("hidden_dim", &c.hidden_dim));
  QUANTD_RETURN_IF_ERROR(get("n_layers", &c.n_layers));
  QUANTD_RETURN_IF_ERROR(get("n_heads", &c.n_heads));
  QUANTD_RETURN_IF_ERROR(get("n_kv_heads", &c.n_kv_heads));
  QUANTD_RETURN_IF_ERROR(get("vocab_size", &c.vocab_size));
  QUANTD_RETURN_IF_ERROR(get("seq_len", &c.seq_len));
  auto it = m.find("llama2c.shared_classifier");
  c.shared_classifier = it == m.end() || it->second != "false";
  return c;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Llama2cConfig::TensorShapes() const {
  const int64_t d = dim, q_dim = int64_t{n_heads} * head_size(), kv_dim = int64_t{n_kv_heads} * head_size();
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"tok_embeddings.weight", {vocab_size, d}}};
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    out.push_back({p + "attention_norm.weight", {d}});
    out.push_back({p + "attention.wq.weight", {q_dim, d}});
    out.push_back({p + "attention.wk.weight", {kv_dim, d}});
    out.push_back({p + "attention.wv.weight", {kv_dim, d}});
    out.push_back({p + "attention.wo.weight", {d, q_dim}});
    out.push_back({p + "ffn_norm.weight", {d}});
    out.push_back({p + "feed_forward.w1.weight", {hidden_dim, d}});
    out.push_back({p + "feed_forward.w2.weight", {d, hidden_dim}});
    out.push_back({p + "feed_forward.w3.weight", {hidden_dim, d}});
  }
  out.push_back({"norm.weight", {d}});
  if (!shared_classifier) out.push_back({"output.weight", {vocab_size, d}});
  return out;
}

StatusOr<Llama2cConfig> ParseLlama2cHeader(std::span<const uint8_t> file) {
  if (file.size() < 28) return InvalidArgumentError("llama2.c file is shorter than its 28-byte header");
  int32_t h[7];
  memcpy(h, file.data(), sizeof(h));
  Llama2cConfig c{h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -h[5] : h[5], h[6], h[5] > 0};
  if (!c.Plausible()) {
    return InvalidArgumentError("llama2.c header is not plausible: dim=" + std::to_string(c.dim) +
                                " hidden=" + std::to_string(c.hidden_dim) +
                                " layers=" + std::to_string(c.n_layers) +
                                " heads=" + std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) +
                                " vocab=" + std::to_string(h[5]) + " seq=" + std::to_string(c.seq_len));
  }
  const uint64_t rope = static_cast<uint64_t>(c.seq_len) * static_cast<uint64_t>(c.head_size());
  const uint64_t expect = 28 + 4 * (static_cast<uint64_t>(c.parameter_count()) + rope);
  if (file.size() != expect) {
    return InvalidArgumentError("llama2.c file has " + std::to_string(file.size()) +
                                " bytes; its header implies " + std::to_string(expect) +
                                " (truncated or not a llama2.c checkpoint)");
  }
  return c;
}

std::vector<float> Llama2cTensor::Values() const {
  std::vector<float> v(bytes.size() / 4);
  memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

const Llama2cTensor* Llama2cFile::Find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<const Llama2cTensor*> Llama2cFile::LinearLayers() const {
  std::vector<const Llama2cTensor*> out;
  for (const auto& t : tensors) {
    if (!t.is_norm() && t.name.rfind("layers.", 0) == 0) out.push_back(&t);
  }
  return out;
}

StatusOr<std::unique_ptr<Llama2cFile>> ReadLlama2c(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFoundError(path + ": cannot open: no such file");
  // A folder "opens" as a stream but fails on the first read, which libstdc++ reports by throwing.
  if (!std::filesystem::is_regular_file(path, ec)) return InvalidArgumentError(path + ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open");
  auto f = std::make_unique<Llama2cFile>();
  f->bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  auto cfg = ParseLlama2cHeader(f->bytes);
  if (!cfg.ok()) return cfg.status().WithContext(path);
  f->config = *cfg;
  const Llama2cConfig& c = f->config;
  const int64_t dim = c.dim, hidden = c.hidden_dim, hs = c.head_size();
  const int64_t q_dim = c.n_heads * hs, kv_dim = c.n_kv_heads * hs;
  size_t offset = 28;
  // Takes the next tensor of `shape`, once per layer when `layered`.
  auto take = [&](const std::string& name, std::vector<int64_t> shape, bool layered) {
    int64_t per = 1;
    for (int64_t d : shape) per *= d;
    for (int l = 0; l < (layered ? c.n_layers : 1); ++l) {
      const size_t n = static_cast<size_t>(per) * 4;
      f->tensors.push_back({layered ? "layers." + std::to_string(l) + "." + name : name, shape,
                            std::span<const uint8_t>(f->bytes.data() + offset, n)});
      offset += n;
    }
  };
  // The header check fixed the file's size, so every take is in bounds.
  take("tok_embeddings.weight", {c.vocab_size, dim}, false);
  take("attention_norm.weight", {dim}, true);
  take("attention.wq.weight", {q_dim, dim}, true);
  take("attention.wk.weight", {kv_dim, dim}, true);
  take("attention.wv.weight", {kv_dim, dim}, true);
  take("attention.wo.weight", {dim, q_dim}, true);
  take("ffn_norm.weight", {dim}, true);
  take("feed_forward.w1.weight", {hidden, dim}, true);
  take("feed_forward.w2.weight", {dim, hidden}, true);
  take("feed_forward.w3.weight", {hidden, dim}, true);
  take("norm.weight", {dim}, false);
  offset += static_cast<size_t>(c.seq_len) * static_cast<size_t>(hs) * 4;  // unused RoPE tables
  if (!c.shared_classifier) take("output.weight", {c.vocab_size, dim}, false);
  if (offset != f->bytes.size())
    return InternalError(path + ": reader consumed " + std::to_string(offset) + " bytes");
  return f;
}

}  // namespace quantd::client
