#include "core/common/isa.h"

#if QUANTD_X86_VARIANTS
#include <cpuid.h>
#endif

namespace quantd {
namespace {

#if QUANTD_X86_VARIANTS
// CPUID leaf 1, ECX bit 29 (Clang's __builtin_cpu_supports does not know "f16c").
bool HasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}
#endif

}  // namespace

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
    case Isa::kPortable:
      return true;
    case Isa::kAvx2:
#if QUANTD_X86_VARIANTS
      return __builtin_cpu_supports("avx2") && HasF16c();
#else
      return false;
#endif
    case Isa::kAvx512:
#if QUANTD_X86_VARIANTS
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             HasF16c();
#else
      return false;
#endif
  }
  return false;
}

Isa BestIsa() {
  static const Isa best = IsaAvailable(Isa::kAvx512) ? Isa::kAvx512
                          : IsaAvailable(Isa::kAvx2) ? Isa::kAvx2
                                                     : Isa::kPortable;
  return best;
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    if (IsaAvailable(isa)) v.push_back(isa);
  }
  return v;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
      return "auto";
    case Isa::kPortable:
      return "portable";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

}  // namespace quantd
