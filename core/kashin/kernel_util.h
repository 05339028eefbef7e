// File: kernel_util.h
//
// Small helpers shared by Kashin's kernels (fft.cc, dct.cc, transform.cc, greedy.cc).
#ifndef QUANTD_CORE_KASHIN_KERNEL_UTIL_H_
#define QUANTD_CORE_KASHIN_KERNEL_UTIL_H_

#include <cstddef>
#include <vector>

// Marks a loop whose iterations touch disjoint elements, for loops that write several streams
// into one buffer (or through captured pointers) where the compiler cannot prove it and would
// otherwise not vectorise. Only GCC needs it; elsewhere it is empty.
#if defined(__GNUC__) && !defined(__clang__)
#define QUANTD_IVDEP _Pragma("GCC ivdep")
#else
#define QUANTD_IVDEP
#endif

namespace quantd::kashin_internal {

// Per-thread work space of at least `count` values, grown on demand and reused, so transforms
// allocate nothing per call. Each Tag has its own buffer, so that a user of one never clobbers
// another's. REQUIRES: the buffer of a Tag is not used by two calls that nest.
template <typename T, typename Tag>
T* ThreadScratch(size_t count) {
  thread_local std::vector<T> buf;
  if (buf.size() < count) buf.resize(count);
  return buf.data();
}

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_KERNEL_UTIL_H_
