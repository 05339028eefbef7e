#include "server/work_pool.h"

#include <tbb/info.h>

namespace quantd::server {

WorkPool::WorkPool(int threads)
    : threads_(threads > 0 ? threads : tbb::info::default_concurrency()), arena_(threads_) {}

void WorkPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++outstanding_;
  }
  arena_.enqueue([this, task = std::move(task)] {
    {
      std::unique_lock<std::mutex> lock(mu_);
      resume_.wait(lock, [&] { return !paused_; });
    }
    task();
    std::lock_guard<std::mutex> lock(mu_);
    if (--outstanding_ == 0) idle_.notify_all();
  });
}

void WorkPool::PauseForTesting(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
  if (!paused_) resume_.notify_all();
}

bool WorkPool::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_until(lock, deadline, [&] { return outstanding_ == 0; });
}

}  // namespace quantd::server
