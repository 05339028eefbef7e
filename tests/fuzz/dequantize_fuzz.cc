// Fuzz target: the Dequantize RPC's work on an untrusted DequantizeRequest: the proto-to-core
// conversion of the encoding, then the method's decoder.
#include <google/protobuf/stubs/logging.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "server/chunk_runner.h"

// Mutated string fields are rarely UTF-8, and protobuf logs every such parse: silence it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  quantd::v1::DequantizeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  // As the service: the output's size is checked against the budget before decoding.
  const uint64_t bytes = quantd::server::DequantizeOutputBytes(request);
  if (bytes == 0 || bytes > (uint64_t{1} << 24)) return 0;
  auto response = quantd::server::RunDequantize(request);
  (void)response;
  return 0;
}
