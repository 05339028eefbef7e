// File: parallel_blocks.h
//
// ParallelBlocks(begin, end, grain, body): body(b, e) over disjoint blocks of at most `grain`
// items covering [begin, end), on TBB. The model's loops write disjoint outputs, so results do
// not depend on the thread count.
#ifndef QUANTD_CLIENT_MODEL_PARALLEL_BLOCKS_H_
#define QUANTD_CLIENT_MODEL_PARALLEL_BLOCKS_H_

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cstdint>

namespace quantd::client {

template <typename Body>
void ParallelBlocks(int64_t begin, int64_t end, int64_t grain, const Body& body) {
  if (end <= begin) return;
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(begin, end, grain > 0 ? grain : 1),
      [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); }, tbb::simple_partitioner());
}

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_PARALLEL_BLOCKS_H_
