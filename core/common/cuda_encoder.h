// File: cuda_encoder.h
//
// QUANTD_CUDA_ENCODER(fn): in a method's `cuda_encoder()`, the address of its CUDA encoder when
// the core is built with the CUDA backend (QUANTD_HAVE_CUDA, set by core/CMakeLists.txt), and
// null otherwise, so that method sources name their encoder the same way in every build.
#ifndef QUANTD_CORE_COMMON_CUDA_ENCODER_H_
#define QUANTD_CORE_COMMON_CUDA_ENCODER_H_

#if QUANTD_HAVE_CUDA
#define QUANTD_CUDA_ENCODER(fn) (&(fn))
#else
#define QUANTD_CUDA_ENCODER(fn) (nullptr)
#endif

#endif  // QUANTD_CORE_COMMON_CUDA_ENCODER_H_
