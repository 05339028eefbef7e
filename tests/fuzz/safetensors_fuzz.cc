// Fuzz target: the safetensors header parser. The first 8 bytes give the data section's size, the
// rest is the header text.
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "client/io/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_size;
  std::memcpy(&data_size, data, 8);
  std::map<std::string, std::string> metadata;
  auto tensors = quantd::client::SafetensorsFile::ParseHeader(
      std::string_view(reinterpret_cast<const char*>(data + 8), size - 8), data_size, &metadata, "fuzz");
  (void)tensors;
  return 0;
}
