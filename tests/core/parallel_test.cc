// The core's parallel primitives: ParallelFor covers its range exactly once in blocks of at most
// the grain and propagates exceptions; RunIsolated keeps a thread that waits inside it from
// starting outside work, which is what makes per-thread resources safe across nested loops.
#include "core/common/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#if QUANTD_HAVE_TBB
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#endif

namespace quantd {
namespace {

TEST(ParallelTest, ParallelForCoversTheRangeOnceInGrainSizedBlocks) {
  for (int64_t grain : {1, 3, 7, 100}) {
    std::vector<std::atomic<int>> seen(1000);
    std::atomic<bool> too_big{false};
    ParallelFor(5, 1000, grain, [&](int64_t b, int64_t e) {
      if (e - b > grain || e <= b) too_big = true;
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)]++;
    });
    EXPECT_FALSE(too_big) << "grain " << grain;
    for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], i >= 5 ? 1 : 0) << i;
  }
  ParallelFor(3, 3, 1, [](int64_t, int64_t) { FAIL() << "empty range"; });
}

TEST(ParallelTest, ExceptionsPropagate) {
  EXPECT_THROW(ParallelFor(0, 100, 1,
                           [](int64_t b, int64_t) {
                             if (b == 37) throw std::runtime_error("block 37");
                           }),
               std::runtime_error);
  EXPECT_THROW(RunIsolated([] { throw std::runtime_error("inside"); }), std::runtime_error);
  int ran = 0;
  RunIsolated([&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

// Outer blocks each hold a per-thread "in use" mark while a nested ParallelFor runs inside
// RunIsolated. A thread that, while waiting in the nested loop, started another outer block would
// find its own mark set. With isolation that never happens.
TEST(ParallelTest, IsolatedNestedLoopsNeverReenterOuterWork) {
  auto run = [] {
    std::atomic<int> reentered{0};
    ParallelFor(0, 64, 1, [&](int64_t, int64_t) {
      RunIsolated([&] {
        thread_local bool in_use = false;
        if (in_use) reentered++;
        in_use = true;
        ParallelFor(0, 16, 1,
                    [](int64_t, int64_t) { std::this_thread::sleep_for(std::chrono::microseconds(200)); });
        in_use = false;
      });
    });
    return reentered.load();
  };
#if QUANTD_HAVE_TBB
  // More threads than this machine's cores, so that idle threads steal the nested blocks and the
  // waiting thread goes looking for work.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 8);
  tbb::task_arena arena(8);
  EXPECT_EQ(arena.execute(run), 0);
#else
  EXPECT_EQ(run(), 0);
#endif
}

}  // namespace
}  // namespace quantd
