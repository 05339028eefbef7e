// The table of CUDA encoders. Adding a method's CUDA encoder means adding one line here.
#include "crossquant/crossquant_cuda.h"
#include "cuda/cuda_encoders.h"
#include "kashin/kashin_cuda.h"
#include "pvq/pvq_cuda.h"
#include "rtn/rtn_cuda.h"

namespace quantd::cuda {

EncodeFn FindEncoder(std::string_view method) {
  if (method == "rtn") return &rtn_cuda::Encode;
  if (method == "crossquant") return &crossquant_cuda::Encode;
  if (method == "pvq") return &pvq_cuda::Encode;
  if (method == "kashin") return &kashin_cuda::Encode;
  return nullptr;
}

}  // namespace quantd::cuda
