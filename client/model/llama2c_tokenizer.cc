#include "client/model/llama2c_tokenizer.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace quantd::client {

StatusOr<Llama2cTokenizer> Llama2cTokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open tokenizer");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Parse(bytes, path);
}

StatusOr<Llama2cTokenizer> Llama2cTokenizer::Parse(std::span<const uint8_t> bytes, const std::string& name) {
  Llama2cTokenizer t;
  if (bytes.size() < 4) return InvalidArgumentError(name + ": tokenizer is shorter than its 4-byte header");
  size_t off = 4;  // max_token_length: llama2.c sizes a buffer with it; nothing here needs it
  while (off < bytes.size()) {
    const std::string who = name + ": token " + std::to_string(t.pieces_.size());
    if (bytes.size() - off < 8)
      return InvalidArgumentError(who + " is truncated (score and length need 8 bytes)");
    float score;
    int32_t len;
    memcpy(&score, bytes.data() + off, 4);
    memcpy(&len, bytes.data() + off + 4, 4);
    off += 8;
    if (len < 0) return InvalidArgumentError(who + " has negative length " + std::to_string(len));
    if (static_cast<uint64_t>(len) > bytes.size() - off) {
      return InvalidArgumentError(who + " is truncated (length " + std::to_string(len) + ", " +
                                  std::to_string(bytes.size() - off) + " bytes left)");
    }
    t.pieces_.emplace_back(reinterpret_cast<const char*>(bytes.data() + off), static_cast<size_t>(len));
    t.scores_.push_back(score);
    off += static_cast<size_t>(len);
  }
  if (t.pieces_.size() < 3) {
    return InvalidArgumentError(name + ": tokenizer has " + std::to_string(t.pieces_.size()) +
                                " tokens; <unk>, <s> and </s> need at least 3");
  }
  for (size_t i = 0; i < t.pieces_.size(); ++i)
    t.ids_.emplace(t.pieces_[i], static_cast<int32_t>(i));  // first wins
  t.space_id_ = t.Find(" ");
  if (t.space_id_ < 0)
    return InvalidArgumentError(name + ": tokenizer has no \" \" piece for the dummy prefix");
  t.byte_fallback_ = t.pieces_.size() >= kFirstByteToken + 256u;
  for (int b = 0; b < 256 && t.byte_fallback_; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    t.byte_fallback_ = t.pieces_[kFirstByteToken + b] == hex;
  }
  return t;
}

int32_t Llama2cTokenizer::Find(std::string_view s) const {
  auto it = ids_.find(std::string(s));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int32_t> Llama2cTokenizer::Encode(std::string_view text, bool bos) const {
  std::vector<int32_t> ids;
  if (bos) ids.push_back(kBos);
  if (text.empty()) return ids;
  ids.push_back(space_id_);
  auto continuation = [&](size_t i) { return (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80; };
  for (size_t i = 0; i < text.size();) {
    size_t j = i + 1;
    while (j < text.size() && continuation(j) && j - i < 4) ++j;
    const std::string_view cp = text.substr(i, j - i);
    if (const int32_t id = Find(cp); id >= 0) {
      ids.push_back(id);
    } else if (byte_fallback_) {
      for (char c : cp) ids.push_back(kFirstByteToken + static_cast<uint8_t>(c));
    } else {
      ids.push_back(kUnk);
    }
    i = j;
  }
  Merge(ids);
  return ids;
}

void Llama2cTokenizer::Merge(std::vector<int32_t>& ids) const {
  // merged[k]: the piece id of ids[k] + ids[k+1], or -1. Each merge changes two pairs only, so
  // the lookups are redone for those; the choice (highest score, leftmost on ties, above -1e10)
  // is exactly llama2.c's full rescan.
  auto pair = [&](size_t k) { return Find(pieces_[ids[k]] + pieces_[ids[k + 1]]); };
  std::vector<int32_t> merged(ids.size() > 1 ? ids.size() - 1 : 0);
  for (size_t k = 0; k < merged.size(); ++k) merged[k] = pair(k);
  while (true) {
    float best = -1e10f;
    size_t best_k = merged.size();
    for (size_t k = 0; k < merged.size(); ++k) {
      if (merged[k] >= 0 && scores_[merged[k]] > best) {
        best = scores_[merged[k]];
        best_k = k;
      }
    }
    if (best_k == merged.size()) return;
    ids[best_k] = merged[best_k];
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best_k) + 1);
    merged.erase(merged.begin() + static_cast<std::ptrdiff_t>(best_k));
    if (best_k > 0) merged[best_k - 1] = pair(best_k - 1);
    if (best_k < merged.size()) merged[best_k] = pair(best_k);
  }
}

StatusOr<std::string> Llama2cTokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size()) {
      return InvalidArgumentError("token " + std::to_string(i) + " has id " + std::to_string(id) +
                                  ", outside the vocabulary of " + std::to_string(vocab_size()));
    }
    if (byte_fallback_ && id >= kFirstByteToken && id < kFirstByteToken + 256) {
      out.push_back(static_cast<char>(id - kFirstByteToken));
    } else {
      out += pieces_[id];
    }
  }
  return out;
}

}  // namespace quantd::client
