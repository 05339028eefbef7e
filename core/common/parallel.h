// File: parallel.h
//
// The core's only parallel primitive: a loop over [begin, end) split into blocks that run on the
// TBB task pool of the calling thread's arena (on plain threads when the core is built without
// TBB).
// Bodies must write disjoint outputs; results then do not depend on the number of threads.
#ifndef QUANTD_CORE_COMMON_PARALLEL_H_
#define QUANTD_CORE_COMMON_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace quantd {

// Calls body(b, e) for disjoint sub-ranges covering [begin, end), each at most `grain` long
// (grain >= 1). Exceptions thrown by body propagate to the caller.
void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& body);

// Runs fn so that, while it waits for a nested ParallelFor, the calling thread takes no other
// task from outside fn (TBB's work isolation; without TBB it simply calls fn). For code that holds
// per-thread resources (thread_local scratch, a thread's CUDA buffers) across a nested
// ParallelFor: without isolation a waiting thread may start another task that reuses them.
void RunIsolated(const std::function<void()>& fn);

// Number of threads the current arena may use.
int MaxConcurrency();

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_PARALLEL_H_
