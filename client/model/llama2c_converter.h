// File: llama2c_converter.h
//
// `quantctl convert-llama2c`: a llama2.c checkpoint (llama2c.h) as safetensors, with the
// tensor names of llama2c.h in file order and the configuration in `__metadata__`
// (Llama2cConfig::ToMetadata).
#ifndef QUANTD_CLIENT_MODEL_LLAMA2C_CONVERTER_H_
#define QUANTD_CLIENT_MODEL_LLAMA2C_CONVERTER_H_

#include <string>

#include "client/model/llama2c.h"
#include "quantd/core/status.h"

namespace quantd::client {

// Converts `input` (a llama2.c .bin) to `output` (.safetensors, written atomically).
StatusOr<Llama2cConfig> ConvertLlama2cToSafetensors(const std::string& input, const std::string& output);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_MODEL_LLAMA2C_CONVERTER_H_
