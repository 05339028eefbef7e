// The table of CUDA encoders. Adding a method's CUDA encoder means adding one line here.
#include "cuda/cuda_encoders.h"
#include "rtn/rtn_cuda.h"

namespace quantd::cuda {

EncodeFn FindEncoder(std::string_view method) {
  if (method == "rtn") return &rtn_cuda::Encode;
  return nullptr;
}

}  // namespace quantd::cuda
