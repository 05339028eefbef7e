#include "client/model/llama2c_converter.h"

#include <vector>

#include "client/io/safetensors_writer.h"
#include "quantd/core/dtype.h"

namespace quantd::client {

StatusOr<Llama2cConfig> ConvertLlama2cToSafetensors(const std::string& input, const std::string& output) {
  QUANTD_ASSIGN_OR_RETURN(std::unique_ptr<Llama2cFile> file, ReadLlama2c(input));
  std::vector<TensorToWrite> tensors;
  for (const Llama2cTensor& t : file->tensors) {
    tensors.push_back(TensorToWrite::FromBytes(t.name, DType::kF32, t.shape, t.bytes));
  }
  QUANTD_RETURN_IF_ERROR(WriteSafetensors(output, tensors, file->config.ToMetadata()));
  return file->config;
}

}  // namespace quantd::client
