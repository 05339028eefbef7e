// File: progress.h
//
// Job progress for people watching: on a terminal a redrawn bar with bytes/s and ETA, otherwise
// (logs of a Kubernetes Job) a plain line every `interval` seconds. Thread-safe.
#ifndef QUANTD_CLIENT_JOB_PROGRESS_H_
#define QUANTD_CLIENT_JOB_PROGRESS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

namespace quantd::client {

class Progress {
 public:
  enum class Style { kBar, kLines, kNone };
  // Picks kBar when stderr is a terminal, kLines otherwise.
  static Style AutoStyle();

  // `total_bytes` of source to quantize, of which `resumed_bytes` were already done.
  Progress(std::ostream* out, Style style, uint64_t total_bytes, uint64_t resumed_bytes,
           double interval_seconds = 10);
  ~Progress();
  void Add(uint64_t bytes);
  // Final line; stops the reporter.
  void Finish();

 private:
  void Loop();
  std::string Line(bool final);

  std::ostream* out_;
  Style style_;
  const uint64_t total_;
  const uint64_t resumed_;
  const double interval_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t done_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_JOB_PROGRESS_H_
