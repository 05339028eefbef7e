// File: perplexity.h
//
// The evaluation protocol of quantctl eval (docs/EVAL.md), the one behind the reference figures
// in shared/data/README.md (stories260K 1.450 nats/token, en10 0.839 on tinystories_val):
//
//   1. Split the text into paragraphs: on blank lines (TextSplit::kParagraphs; tinystories_val)
//      or on line ends (kLines; our own protocol for wiki.test.raw, whose rows are not separated
//      by blank lines). "\r\n" counts as "\n". Strip ASCII whitespace around each paragraph, drop
//      empty ones, keep the first `max_paragraphs` (400).
//   2. Encode each paragraph + "\n" (dummy-prefix space, no BOS) and concatenate the ids.
//   3. Cut the stream into consecutive windows of `window` (255) tokens and take the first
//      `windows` (20). Each window is run as a fresh sequence: BOS (id 1) followed by its first
//      window - 1 tokens, so that position i predicts window token i; all `window` tokens are
//      scored.
//   4. Report the mean negative log-likelihood (nats/token) over the scored positions, and its
//      exponential, the perplexity. With a reference model (the float model of a quantized
//      one): the mean over the same positions of KL(reference || model) of the next-token
//      distributions, and the fraction of positions whose argmax (lowest id on ties) agrees.
//
// Sums run in double, in position order, so results do not depend on the thread count.
#ifndef QUANTD_CLIENT_MODEL_PERPLEXITY_H_
#define QUANTD_CLIENT_MODEL_PERPLEXITY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/model/llama2c_tokenizer.h"
#include "client/model/llama_model.h"
#include "quantd/core/status.h"

namespace quantd::client {

enum class TextSplit { kParagraphs, kLines };

struct EvalProtocol {
  TextSplit split = TextSplit::kParagraphs;
  int64_t max_paragraphs = 400;  // 0: all
  int64_t window = 255;          // scored tokens per window
  int64_t windows = 20;          // 0: every complete window of the stream
};

// "paragraphs" / "lines", and back.
std::string_view TextSplitName(TextSplit split);
StatusOr<TextSplit> ParseTextSplit(std::string_view name);

// Step 1 of the protocol.
std::vector<std::string> SplitParagraphs(std::string_view text, TextSplit split, int64_t max_paragraphs);

// Step 2. Stops encoding once the stream holds `tokens_needed` ids (0: encode everything).
std::vector<int32_t> EncodeParagraphs(const Llama2cTokenizer& tokenizer,
                                      const std::vector<std::string>& paragraphs, int64_t tokens_needed);

// Steps 1 and 2 for a whole protocol: only as many paragraphs are encoded as the windows need.
std::vector<int32_t> BuildEvalStream(const Llama2cTokenizer& tokenizer, std::string_view text,
                                     const EvalProtocol& protocol);

struct EvalResult {
  int64_t windows = 0;
  int64_t positions = 0;  // windows * window
  double nll = 0;         // mean nats per token
  double ppl() const;
  // With a reference model only.
  std::optional<double> reference_nll;
  std::optional<double> kl;    // mean KL(reference || model), nats
  std::optional<double> top1;  // fraction of positions whose argmax agrees
};

// Called after each window with its inputs (BOS + the first window - 1 tokens), targets (the
// window's tokens) and the model's logits [window, vocab].
using WindowObserver = std::function<void(int64_t window_index, std::span<const int32_t> inputs,
                                          std::span<const int32_t> targets, std::span<const float> logits)>;

// Steps 3 and 4 on `stream`. `reference` may be null. INVALID_ARGUMENT when the stream has
// fewer tokens than the windows need (naming both counts), a window does not fit the model's
// seq_len, or the reference's vocabulary differs from the model's.
StatusOr<EvalResult> EvaluateStream(const LlamaModel& model, const LlamaModel* reference,
                                    std::span<const int32_t> stream, const EvalProtocol& protocol,
                                    const WindowObserver& observer = nullptr);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_PERPLEXITY_H_
