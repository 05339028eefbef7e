#include "server/byte_budget.h"

#include <algorithm>
#include <vector>

namespace quantd::server {

uint64_t ByteBudget::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

uint64_t ByteBudget::waiting_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t n = 0;
  for (const Waiter& w : waiters_) n += w.bytes;
  return n;
}

uint64_t ByteBudget::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

bool ByteBudget::TryAcquire(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!waiters_.empty() || in_use_ + bytes > capacity_) return false;
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
  return true;
}

bool ByteBudget::AcquireOrWait(uint64_t bytes, uint64_t* ticket, std::function<void()> on_granted) {
  std::lock_guard<std::mutex> lock(mu_);
  *ticket = next_ticket_++;
  if (waiters_.empty() && in_use_ + bytes <= capacity_) {
    in_use_ += bytes;
    peak_ = std::max(peak_, in_use_);
    return true;
  }
  waiters_.push_back({*ticket, bytes, std::move(on_granted)});
  return false;
}

bool ByteBudget::CancelWait(uint64_t ticket) {
  std::vector<std::function<void()>> granted;
  bool removed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it =
        std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.ticket == ticket; });
    if (it == waiters_.end()) return false;
    const bool was_head = it == waiters_.begin();
    waiters_.erase(it);
    removed = true;
    // Removing the head may let the next waiters in.
    while (was_head && !waiters_.empty() && in_use_ + waiters_.front().bytes <= capacity_) {
      in_use_ += waiters_.front().bytes;
      peak_ = std::max(peak_, in_use_);
      granted.push_back(std::move(waiters_.front().on_granted));
      waiters_.pop_front();
    }
  }
  for (auto& g : granted) g();
  return removed;
}

void ByteBudget::Release(uint64_t bytes) {
  std::vector<std::function<void()>> granted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= std::min(bytes, in_use_);
    while (!waiters_.empty() && in_use_ + waiters_.front().bytes <= capacity_) {
      in_use_ += waiters_.front().bytes;
      peak_ = std::max(peak_, in_use_);
      granted.push_back(std::move(waiters_.front().on_granted));
      waiters_.pop_front();
    }
  }
  for (auto& g : granted) g();
}

}  // namespace quantd::server
