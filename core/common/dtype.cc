#include "quantd/core/dtype.h"

#include <array>
#include <string>
#include <utility>

namespace quantd {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DTypeInfo, 13> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kU8, "U8", 1},
    {DType::kI8, "I8", 1},
    {DType::kU16, "U16", 2},
    {DType::kI16, "I16", 2},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kU32, "U32", 4},
    {DType::kI32, "I32", 4},
    {DType::kF32, "F32", 4},
    {DType::kU64, "U64", 8},
    {DType::kI64, "I64", 8},
    {DType::kF64, "F64", 8},
}};

const DTypeInfo& Info(DType d) { return kDTypes[static_cast<size_t>(d)]; }

}  // namespace

std::string_view DTypeName(DType dtype) { return Info(dtype).name; }
size_t DTypeSize(DType dtype) { return Info(dtype).size; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

bool IsQuantizableSource(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

Status ConvertToFloat(DType src, std::span<const uint8_t> bytes, std::span<float> out) {
  const size_t n = out.size();
  if (bytes.size() < n * DTypeSize(src)) {
    return InvalidArgumentError("ConvertToFloat: " + std::to_string(bytes.size()) +
                                " bytes hold fewer than " + std::to_string(n) + " " +
                                std::string(DTypeName(src)) + " values");
  }
  const uint8_t* p = bytes.data();
  switch (src) {
    case DType::kF32:
      memcpy(out.data(), p, n * 4);
      return OkStatus();
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        out[i] = F16ToFloat(h);
      }
      return OkStatus();
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        out[i] = BF16ToFloat(h);
      }
      return OkStatus();
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      return OkStatus();
    default:
      return InvalidArgumentError("cannot convert " + std::string(DTypeName(src)) +
                                  " to float: only F32, F16, BF16 and F64 are floating-point");
  }
}

Status ConvertFromFloat(std::span<const float> in, DType dst, std::span<uint8_t> out) {
  const size_t n = in.size();
  if (!(dst == DType::kF32 || dst == DType::kF16 || dst == DType::kBF16)) {
    return InvalidArgumentError("cannot write floats as " + std::string(DTypeName(dst)) +
                                ": choose F32, F16 or BF16");
  }
  if (out.size() != n * DTypeSize(dst)) {
    return InvalidArgumentError("ConvertFromFloat: output size mismatch");
  }
  uint8_t* p = out.data();
  switch (dst) {
    case DType::kF32:
      memcpy(p, in.data(), n * 4);
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = FloatToF16(in[i]);
        memcpy(p + 2 * i, &h, 2);
      }
      break;
    default:  // kBF16
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = FloatToBF16(in[i]);
        memcpy(p + 2 * i, &h, 2);
      }
      break;
  }
  return OkStatus();
}

}  // namespace quantd
