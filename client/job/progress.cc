#include "client/job/progress.h"

#include <unistd.h>

#include <cstdio>

namespace quantd::client {

Progress::Style Progress::AutoStyle() { return ::isatty(STDERR_FILENO) ? Style::kBar : Style::kLines; }

Progress::Progress(std::ostream* out, Style style, uint64_t total_bytes, uint64_t resumed_bytes,
                   double interval)
    : out_(out),
      style_(out == nullptr ? Style::kNone : style),
      total_(total_bytes),
      resumed_(resumed_bytes),
      interval_(style == Style::kBar ? 0.25 : interval),
      start_(std::chrono::steady_clock::now()) {
  if (style_ != Style::kNone) thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() { Finish(); }

void Progress::Add(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ += bytes;
}

std::string Progress::Line(bool final) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const uint64_t done = resumed_ + done_;
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(total_, done)) / rate : 0.0;
  char buf[256];
  if (style_ == Style::kBar) {
    const int width = 30;
    std::string bar(static_cast<size_t>(frac * width), '#');
    bar.resize(width, '.');
    std::snprintf(buf, sizeof(buf), "\r[%s] %5.1f%%  %8.1f MB/s  ETA %6.0f s%s", bar.c_str(), 100 * frac,
                  rate / 1e6, final ? 0.0 : eta, final ? "\n" : "");
  } else {
    std::snprintf(buf, sizeof(buf), "progress: %.1f%% (%llu of %llu bytes), %.1f MB/s, ETA %.0f s\n",
                  100 * frac, static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                  rate / 1e6, final ? 0.0 : eta);
  }
  return buf;
}

void Progress::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::duration<double>(interval_));
    if (stop_) break;
    *out_ << Line(false) << std::flush;
  }
}

void Progress::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (style_ != Style::kNone) {
    std::lock_guard<std::mutex> lock(mu_);
    *out_ << Line(true) << std::flush;
  }
}

}  // namespace quantd::client
