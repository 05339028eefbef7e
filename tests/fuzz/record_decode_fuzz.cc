// Fuzz target: the chunk record reader (what the resume journal reads back) and, for every record
// that parses, its method's decoder. Neither may crash, hang or read out of bounds; a decoder
// that accepts an encoding must return finite weights.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/record/chunk_record.h"
#include "quantd/core/quantize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Without the checksum, so that mutations reach the header and section checks.
  auto view = quantd::ParseChunkRecord(std::span<const uint8_t>(data, size), /*verify_checksum=*/false);
  if (!view.ok()) return 0;
  const quantd::Encoding enc = view->ToEncoding();
  // The decode buffer follows the header: bound it as the server bounds Dequantize. Headers with
  // negative or reversed ranges go to the decoder, which must refuse them before allocating.
  const bool ordered = enc.row_begin >= 0 && enc.row_end >= enc.row_begin && enc.cols >= 0;
  if (ordered && (enc.row_end - enc.row_begin > (int64_t{1} << 16) || enc.cols > (int64_t{1} << 16) ||
                  (enc.row_end - enc.row_begin) * enc.cols > (int64_t{1} << 22))) {
    return 0;
  }
  auto decoded = quantd::DecodeRows(enc);
  if (decoded.ok()) {
    for (size_t i = 0; i < decoded->size(); ++i) {
      if (!std::isfinite((*decoded)[i])) {  // a decoder returned NaN or infinity with OK
        std::fprintf(stderr, "%s decoded weight %zu is %g\n", enc.method.c_str(), i, (*decoded)[i]);
        std::abort();
      }
    }
  }
  return 0;
}
