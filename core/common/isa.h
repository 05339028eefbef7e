// File: isa.h
//
// Instruction-set variants of the memory-bound row kernels (RTN, CrossQuant). Each kernel body is
// written once, so that the compiler vectorises it, and compiled several times: for the baseline
// of the build target (SSE2 on x86-64), and on x86-64 with GCC or Clang for AVX2 and for AVX-512
// through function target attributes. The variant is picked at run time. All variants run the
// same IEEE binary32 operations in the same order (the build passes -ffp-contract=off, so no FMA
// is fused in), so their bytes are identical; tests force each variant against the reference.
#ifndef QUANTD_CORE_COMMON_ISA_H_
#define QUANTD_CORE_COMMON_ISA_H_

#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QUANTD_X86_VARIANTS 1
// F16C comes with every AVX2 CPU; the kernels use it for F16 scales.
#define QUANTD_TARGET_AVX2 __attribute__((target("avx2,f16c")))
#define QUANTD_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c")))
#define QUANTD_TARGET_F16C __attribute__((target("f16c")))
#define QUANTD_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define QUANTD_X86_VARIANTS 0
#define QUANTD_ALWAYS_INLINE inline
#endif

namespace quantd {

// kAuto stands for the best variant this CPU runs (BestIsa()).
enum class Isa { kAuto, kPortable, kAvx2, kAvx512 };

bool IsaAvailable(Isa isa);
// The widest available variant, decided once.
Isa BestIsa();
// kAuto resolved to BestIsa(); any other value unchanged.
inline Isa ResolveIsa(Isa isa) { return isa == Isa::kAuto ? BestIsa() : isa; }
// Every concrete variant this CPU runs, portable first: what tests loop over.
std::vector<Isa> AvailableIsas();
const char* IsaName(Isa isa);

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_ISA_H_
