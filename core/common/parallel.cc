#include "quantd/core/parallel.h"

#include <algorithm>

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
        [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); },
        tbb::simple_partitioner());
    return;
  }
#endif
  for (int64_t b = begin; b < end; b += grain) body(b, std::min(end, b + grain));
}

int MaxConcurrency() {
#if QUANTD_HAVE_TBB
  return tbb::this_task_arena::max_concurrency();
#else
  return 1;
#endif
}

}  // namespace quantd
