// File: seed.h
//
// Deterministic pseudo-random numbers for seeded transforms. A seed is a parameter recorded in
// every encoding; values are derived from it by hashing (seed, stream, index), so any element
// can be computed independently of the others, on any thread or device, with the same result.
#ifndef QUANTD_CORE_COMMON_SEED_H_
#define QUANTD_CORE_COMMON_SEED_H_

#include <cstdint>

#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

namespace quantd {

// SplitMix64's finaliser: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
QUANTD_HOST_DEVICE inline uint64_t Mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The index-th value of stream `stream` under `seed`.
QUANTD_HOST_DEVICE inline uint64_t SeededValue(uint64_t seed, uint64_t stream, uint64_t index) {
  return Mix64(Mix64(seed ^ Mix64(stream)) + index);
}

// +1.0f or -1.0f, each with probability 1/2.
QUANTD_HOST_DEVICE inline float SeededSign(uint64_t seed, uint64_t stream, uint64_t index) {
  return (SeededValue(seed, stream, index) >> 63) ? -1.0f : 1.0f;
}

// Uniform double in [0, 1) with 53 random bits.
QUANTD_HOST_DEVICE inline double SeededUniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<double>(SeededValue(seed, stream, index) >> 11) * 0x1.0p-53;
}

// Stream identifiers, one per use, so that two transforms under one seed are independent.
enum SeedStream : uint64_t {
  kStreamHadamardSigns = 1,
  kStreamDctSigns = 2,
  kStreamGaussian = 3,
  kStreamKMeansInit = 4,
};

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_SEED_H_
