#include "client/model/perplexity.h"

#include <algorithm>
#include <cmath>

#include "client/model/parallel_blocks.h"

namespace quantd::client {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// log softmax of `logits` in double.
void LogSoftmax(std::span<const float> logits, std::vector<double>& out) {
  out.resize(logits.size());
  double mx = -INFINITY;
  for (float z : logits) mx = std::max(mx, static_cast<double>(z));
  double sum = 0;
  for (float z : logits) sum += std::exp(static_cast<double>(z) - mx);
  const double log_z = mx + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_z;
}

size_t ArgMax(std::span<const float> v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

std::string_view TextSplitName(TextSplit split) {
  return split == TextSplit::kLines ? "lines" : "paragraphs";
}

StatusOr<TextSplit> ParseTextSplit(std::string_view name) {
  if (name == "paragraphs") return TextSplit::kParagraphs;
  if (name == "lines") return TextSplit::kLines;
  return InvalidArgumentError("split '" + std::string(name) + "' is not 'paragraphs' or 'lines'");
}

std::vector<std::string> SplitParagraphs(std::string_view text, TextSplit split, int64_t max_paragraphs) {
  std::string normalized;
  normalized.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) normalized.push_back(text[i]);
  }
  const std::string_view sep = split == TextSplit::kLines ? "\n" : "\n\n";
  std::vector<std::string> out;
  std::string_view rest = normalized;
  while (max_paragraphs <= 0 || static_cast<int64_t>(out.size()) < max_paragraphs) {
    const size_t end = rest.find(sep);
    const std::string_view p = Strip(rest.substr(0, end));
    if (!p.empty()) out.emplace_back(p);
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + sep.size());
  }
  return out;
}

std::vector<int32_t> EncodeParagraphs(const Llama2cTokenizer& tokenizer,
                                      const std::vector<std::string>& paragraphs, int64_t tokens_needed) {
  std::vector<int32_t> stream;
  for (const std::string& p : paragraphs) {
    if (tokens_needed > 0 && static_cast<int64_t>(stream.size()) >= tokens_needed) break;
    const std::vector<int32_t> ids = tokenizer.Encode(p + "\n", /*bos=*/false);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  return stream;
}

std::vector<int32_t> BuildEvalStream(const Llama2cTokenizer& tokenizer, std::string_view text,
                                     const EvalProtocol& protocol) {
  return EncodeParagraphs(tokenizer, SplitParagraphs(text, protocol.split, protocol.max_paragraphs),
                          protocol.windows > 0 ? protocol.windows * protocol.window : 0);
}

double EvalResult::ppl() const { return std::exp(nll); }

StatusOr<EvalResult> EvaluateStream(const LlamaModel& model, const LlamaModel* reference,
                                    std::span<const int32_t> stream, const EvalProtocol& protocol,
                                    const WindowObserver& observer) {
  const int64_t w = protocol.window;
  const int64_t vocab = model.config().vocab_size;
  if (w < 1 || w > model.config().seq_len) {
    return InvalidArgumentError("window " + std::to_string(w) + " does not fit the model's seq_len " +
                                std::to_string(model.config().seq_len));
  }
  if (reference != nullptr && (reference->config().vocab_size != vocab || reference->config().seq_len < w)) {
    return InvalidArgumentError("the reference model has vocabulary " +
                                std::to_string(reference->config().vocab_size) + " and seq_len " +
                                std::to_string(reference->config().seq_len) + "; the model has vocabulary " +
                                std::to_string(vocab) + " and the window is " + std::to_string(w));
  }
  const int64_t available = static_cast<int64_t>(stream.size()) / w;
  const int64_t windows = protocol.windows > 0 ? protocol.windows : available;
  if (windows < 1 || windows > available) {
    return InvalidArgumentError(
        std::to_string(std::max<int64_t>(windows, 1)) + " windows of " + std::to_string(w) + " tokens need " +
        std::to_string(std::max<int64_t>(windows, 1) * w) + " tokens; the text gives " +
        std::to_string(stream.size()) + " under the protocol");
  }
  EvalResult r;
  r.windows = windows;
  r.positions = windows * w;
  double nll = 0, ref_nll = 0, kl = 0;
  int64_t agree = 0;
  std::vector<int32_t> inputs(static_cast<size_t>(w));
  std::vector<float> logits(static_cast<size_t>(w * vocab)), ref_logits(reference ? logits.size() : 0);
  // Per-position terms, summed afterwards in position order.
  std::vector<double> pos_nll(static_cast<size_t>(w)), pos_ref_nll(pos_nll.size()), pos_kl(pos_nll.size());
  std::vector<char> pos_agree(pos_nll.size());
  for (int64_t win = 0; win < windows; ++win) {
    const std::span<const int32_t> targets =
        stream.subspan(static_cast<size_t>(win * w), static_cast<size_t>(w));
    inputs[0] = Llama2cTokenizer::kBos;
    std::copy(targets.begin(), targets.end() - 1, inputs.begin() + 1);
    LlamaModel::KvCache cache = model.NewCache();
    QUANTD_RETURN_IF_ERROR(model.Forward(inputs, cache, logits));
    if (reference) {
      LlamaModel::KvCache ref_cache = reference->NewCache();
      QUANTD_RETURN_IF_ERROR(reference->Forward(inputs, ref_cache, ref_logits));
    }
    ParallelBlocks(0, w, 16, [&](int64_t b, int64_t e) {
      std::vector<double> lp, lr;
      for (int64_t i = b; i < e; ++i) {
        const std::span<const float> z(logits.data() + i * vocab, static_cast<size_t>(vocab));
        LogSoftmax(z, lp);
        pos_nll[i] = -lp[targets[i]];
        if (!reference) continue;
        const std::span<const float> zr(ref_logits.data() + i * vocab, static_cast<size_t>(vocab));
        LogSoftmax(zr, lr);
        pos_ref_nll[i] = -lr[targets[i]];
        double k = 0;
        for (int64_t v = 0; v < vocab; ++v) k += std::exp(lr[v]) * (lr[v] - lp[v]);
        pos_kl[i] = k;
        pos_agree[i] = ArgMax(z) == ArgMax(zr);
      }
    });
    for (int64_t i = 0; i < w; ++i) {
      nll += pos_nll[i];
      ref_nll += pos_ref_nll[i];
      kl += pos_kl[i];
      agree += pos_agree[i];
    }
    if (observer) observer(win, inputs, targets, logits);
  }
  const double n = static_cast<double>(r.positions);
  r.nll = nll / n;
  if (reference) {
    r.reference_nll = ref_nll / n;
    r.kl = kl / n;
    r.top1 = static_cast<double>(agree) / n;
  }
  return r;
}

}  // namespace quantd::client
