// Fuzz target: one Quantize stream as the server sees it. The input is a sequence of
// length-prefixed QuantizeRequest messages (u16 length, then the bytes); each goes through the
// chunk assembler under a small budget, as QuantizeStream drives it, and every completed chunk is
// converted to the core's types and encoded (small chunks only). Nothing may crash, and the bytes
// held must match what was reserved.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "quantd/core/quantize.h"
#include "server/chunk_assembler.h"
#include "server/chunk_runner.h"

// Mutated string fields are rarely UTF-8, and protobuf logs every such parse: silence it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kBudget = 1 << 16;
  quantd::server::ChunkAssembler assembler(kBudget);
  uint64_t reserved = 0;
  size_t pos = 0;
  while (pos + 2 <= size) {
    uint16_t len;
    std::memcpy(&len, data + pos, 2);
    pos += 2;
    if (len > size - pos) break;
    quantd::v1::QuantizeRequest m;
    const bool parsed = m.ParseFromArray(data + pos, len);
    pos += len;
    if (!parsed) continue;
    const auto need = assembler.Inspect(m);
    if (!need.stream_error.ok()) break;
    if (reserved + need.bytes > kBudget) break;  // the stream would wait for budget
    reserved += need.bytes;
    auto result = assembler.Accept(std::move(m), need);
    if (result.released > reserved) std::abort();
    reserved -= result.released;
    if (result.complete) {
      const quantd::server::ReceivedChunk& c = *result.complete;
      if (c.data.size() != c.budget_bytes) std::abort();
      const std::string* hessian = c.hessian_key.empty() ? nullptr : assembler.Blob(c.hessian_key);
      auto response = quantd::server::RunChunk(c, c.data, hessian, /*gpu_allowed=*/false);
      (void)response;
      reserved -= c.budget_bytes;
    }
  }
  if (assembler.HeldBytes() != reserved) std::abort();
  return 0;
}
