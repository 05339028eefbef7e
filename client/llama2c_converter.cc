#include "llama2c_converter.h"

#include <fstream>
#include <iterator>
#include <vector>

#include "quantd/core/dtype.h"
#include "safetensors_writer.h"

namespace quantd::client {

int64_t Llama2cConfig::parameter_count() const {
  const int64_t hs = head_size();
  const int64_t kv = static_cast<int64_t>(n_kv_heads) * hs;
  const int64_t per_layer = 2 * int64_t{dim} + int64_t{dim} * n_heads * hs + 2 * kv * dim +
                            int64_t{n_heads} * hs * dim + 3 * int64_t{hidden_dim} * dim;
  return int64_t{vocab_size} * dim * (shared_classifier ? 1 : 2) + n_layers * per_layer + dim;
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

StatusOr<Llama2cConfig> ParseLlama2cHeader(std::span<const uint8_t> file) {
  if (file.size() < 28) return InvalidArgumentError("llama2.c file is shorter than its 28-byte header");
  int32_t h[7];
  memcpy(h, file.data(), sizeof(h));
  Llama2cConfig c{h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -h[5] : h[5], h[6], h[5] > 0};
  if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 ||
      c.vocab_size <= 0 || c.seq_len <= 0 || c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0 ||
      c.dim > (1 << 16) || c.hidden_dim > (1 << 18) || c.n_layers > 1024 || c.vocab_size > (1 << 22) ||
      c.seq_len > (1 << 20)) {
    return InvalidArgumentError("llama2.c header is not plausible: dim=" + std::to_string(c.dim) +
                                " hidden=" + std::to_string(c.hidden_dim) + " layers=" + std::to_string(c.n_layers) +
                                " heads=" + std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) +
                                " vocab=" + std::to_string(h[5]) + " seq=" + std::to_string(c.seq_len));
  }
  const uint64_t rope = static_cast<uint64_t>(c.seq_len) * static_cast<uint64_t>(c.head_size());
  const uint64_t expect = 28 + 4 * (static_cast<uint64_t>(c.parameter_count()) + rope);
  if (file.size() != expect) {
    return InvalidArgumentError("llama2.c file has " + std::to_string(file.size()) + " bytes; its header implies " +
                                std::to_string(expect) + " (truncated or not a llama2.c checkpoint)");
  }
  return c;
}

StatusOr<Llama2cConfig> ConvertLlama2cToSafetensors(const std::string& input, const std::string& output) {
  std::ifstream in(input, std::ios::binary);
  if (!in) return NotFoundError(input + ": cannot open");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto cfg = ParseLlama2cHeader(bytes);
  if (!cfg.ok()) return cfg.status().WithContext(input);
  const Llama2cConfig& c = *cfg;
  const int64_t dim = c.dim, hidden = c.hidden_dim, hs = c.head_size();
  const int64_t q_dim = c.n_heads * hs, kv_dim = c.n_kv_heads * hs;

  std::vector<TensorToWrite> tensors;
  size_t offset = 28;
  // Takes the next `count` floats of the file as one tensor per layer (or one tensor when
  // `layered` is false).
  auto take = [&](const std::string& fmt, std::vector<int64_t> shape, bool layered) {
    int64_t per = 1;
    for (int64_t d : shape) per *= d;
    const int layers = layered ? c.n_layers : 1;
    for (int l = 0; l < layers; ++l) {
      std::string name = fmt;
      if (layered) name = "layers." + std::to_string(l) + "." + fmt;
      tensors.push_back(TensorToWrite::FromBytes(name, DType::kF32, shape,
                                                 std::span<const uint8_t>(bytes.data() + offset, per * 4)));
      offset += per * 4;
    }
  };
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
  if (offset != bytes.size()) return InternalError(input + ": converter consumed " + std::to_string(offset) + " bytes");
  QUANTD_RETURN_IF_ERROR(WriteSafetensors(output, tensors, c.ToMetadata()));
  return c;
}

}  // namespace quantd::client
