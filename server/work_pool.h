// File: work_pool.h
//
// `WorkPool`: where quantd encodes chunks. A TBB task arena bounded to --threads; tasks are
// enqueued (never waited on) from gRPC callbacks, which must not block. The core's own parallel
// loops inside a task run on the same arena, so --threads bounds the whole server.
#ifndef QUANTD_SERVER_WORK_POOL_H_
#define QUANTD_SERVER_WORK_POOL_H_

#include <tbb/task_arena.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace quantd::server {

class WorkPool {
 public:
  // threads <= 0: all cores.
  explicit WorkPool(int threads);
  int threads() const { return threads_; }
  // Runs `task` on the pool. `task` must not throw.
  void Submit(std::function<void()> task);
  // Blocks until no task is queued or running, or until `deadline`; returns whether idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  // Tests: while paused, tasks wait before they start (so work can be held "in flight").
  void PauseForTesting(bool paused);

 private:
  int threads_;
  tbb::task_arena arena_;
  std::mutex mu_;
  std::condition_variable idle_;
  int outstanding_ = 0;
  bool paused_ = false;
  std::condition_variable resume_;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_WORK_POOL_H_
