// File: llama2c_tokenizer.h
//
// The tokenizer of llama2.c models (`tok512.bin`, `tok105.bin`): load, encode, decode.
//
// File format (little-endian): int32 max_token_length, then for each token: float32 score,
// int32 length, that many bytes (the piece; SentencePiece's "▁" already replaced by " ").
// The token count is not stored: it is whatever the file holds, and must equal the model's
// vocabulary size (checked by the caller).
//
// Encoding follows llama2.c's run.c `encode`, so that figures are comparable with it:
//   1. optionally BOS (id 1);
//   2. when the text is not empty, the piece " " (SentencePiece's dummy prefix);
//   3. each UTF-8 code point (a lead byte plus at most three continuation bytes) looked up as a
//      whole piece; when it is not a piece, byte fallback: one token 3 + b per byte b;
//   4. repeatedly merge the adjacent pair whose concatenated pieces form the piece with the
//      highest score (the leftmost such pair on ties; scores must exceed -1e10), until no pair
//      merges.
// One deliberate difference: byte fallback needs the 256 byte pieces "<0x00>".."<0xFF>" at ids
// 3..258. A vocabulary without them (tok105 is character-level: 105 pieces, no bytes) maps an
// unknown code point to <unk> (id 0), as SentencePiece does without byte fallback, where
// llama2.c would emit 3 + b: an unrelated token or one past the vocabulary. For tok105 this
// concerns "\n", which is not a piece; the data README's en10 reference figure (0.839
// nats/token) is reproduced with <unk> (0.8387), not with llama2.c's 3 + 10 (0.8722).
//
// Decoding concatenates pieces, byte tokens giving their byte, so for text whose code points
// all have pieces (or with byte fallback) Decode(Encode(text)) == " " + text: the dummy prefix.
// Thread-safe after loading.
#ifndef QUANTD_CLIENT_MODEL_LLAMA2C_TOKENIZER_H_
#define QUANTD_CLIENT_MODEL_LLAMA2C_TOKENIZER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quantd/core/status.h"

namespace quantd::client {

class Llama2cTokenizer {
 public:
  static constexpr int32_t kUnk = 0;
  static constexpr int32_t kBos = 1;
  static constexpr int32_t kEos = 2;
  static constexpr int32_t kFirstByteToken = 3;

  // Reads a tokenizer file. INVALID_ARGUMENT (naming the file and the token) when it is
  // truncated, has trailing bytes, a negative length, fewer than 3 tokens or no " " piece.
  static StatusOr<Llama2cTokenizer> Load(const std::string& path);
  // The same from bytes in memory; `name` is used in error messages.
  static StatusOr<Llama2cTokenizer> Parse(std::span<const uint8_t> bytes, const std::string& name);

  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  // Whether ids 3..258 are the byte pieces "<0x00>".."<0xFF>" (see the banner).
  bool byte_fallback() const { return byte_fallback_; }
  const std::string& piece(int32_t id) const { return pieces_[id]; }
  float score(int32_t id) const { return scores_[id]; }
  // The lowest id whose piece is `s`, or -1.
  int32_t Find(std::string_view s) const;

  std::vector<int32_t> Encode(std::string_view text, bool bos) const;
  // INVALID_ARGUMENT when an id is outside the vocabulary.
  StatusOr<std::string> Decode(std::span<const int32_t> ids) const;

 private:
  // Greedy highest-score merges (step 4 of the banner), in place.
  void Merge(std::vector<int32_t>& ids) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> ids_;
  int32_t space_id_ = -1;
  bool byte_fallback_ = false;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_LLAMA2C_TOKENIZER_H_
