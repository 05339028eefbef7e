#include "core/common/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if QUANTD_HAVE_TBB
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#endif

namespace quantd {

void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& body) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
#if QUANTD_HAVE_TBB
  if (end - begin > grain) {
    // simple_partitioner: blocks are exactly the grain-sized halvings of the range, so which
    // rows share a block never depends on the number of threads.
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(begin, end, grain),
        [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); }, tbb::simple_partitioner());
    return;
  }
  for (int64_t b = begin; b < end; b += grain) body(b, std::min(end, b + grain));
#else
  // Without TBB (a core-only build on a machine with nothing but a compiler): plain threads
  // take grain-sized blocks from a shared counter. Blocks are the same whatever the thread
  // count, so results are too.
  const int64_t blocks = (end - begin + grain - 1) / grain;
  const int64_t workers = std::min<int64_t>(blocks, std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    for (int64_t k; (k = next.fetch_add(1)) < blocks;) {
      try {
        body(begin + k * grain, std::min(end, begin + (k + 1) * grain));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        next = blocks;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int64_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
#endif
}

void RunIsolated(const std::function<void()>& fn) {
#if QUANTD_HAVE_TBB
  tbb::this_task_arena::isolate(fn);
#else
  fn();  // plain threads never run another block while one waits
#endif
}

int MaxConcurrency() {
#if QUANTD_HAVE_TBB
  return tbb::this_task_arena::max_concurrency();
#else
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#endif
}

}  // namespace quantd
