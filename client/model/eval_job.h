// File: eval_job.h
//
// `quantctl eval`: load a float or quantized llama2.c-architecture checkpoint, its tokenizer and
// a text file, run the evaluation protocol of perplexity.h, and report NLL and perplexity, plus
// KL divergence from and top-1 agreement with a reference (float) model when one is given.
#ifndef QUANTD_CLIENT_MODEL_EVAL_JOB_H_
#define QUANTD_CLIENT_MODEL_EVAL_JOB_H_

#include <string>

#include "client/model/perplexity.h"
#include "quantd/core/status.h"

namespace quantd::client {

struct EvalJobOptions {
  std::string model;      // checkpoint (file, index or folder)
  std::string tokenizer;  // llama2.c tokenizer (.bin)
  std::string text;       // text file
  std::string reference;  // optional reference checkpoint
  EvalProtocol protocol;
  // When set, the scored windows are written here for independent checks
  // (tests/python/llama2c_reference.py): magic "QLOG", int32 positions, int32 vocab, int32
  // inputs [positions], int32 targets [positions], float32 logits [positions, vocab], all
  // little-endian.
  std::string dump_logits;
};

struct EvalReport {
  EvalJobOptions options;
  int64_t stream_tokens = 0;  // tokens encoded (at least what the windows need)
  EvalResult result;
  double seconds = 0;  // wall time of loading and evaluation

  // "nll=1.449936 ppl=4.2628 windows=20 positions=5100" (+ " kl=... top1=... reference_nll=...").
  std::string ToText() const;
  std::string ToJson() const;
};

// NOT_FOUND (naming the file) when a file cannot be opened; INVALID_ARGUMENT (naming the file)
// when one cannot be parsed, the tokenizer's vocabulary differs from the model's, or the text is
// too short for the windows.
StatusOr<EvalReport> RunEvalJob(const EvalJobOptions& options);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_EVAL_JOB_H_
