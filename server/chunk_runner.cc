#include "chunk_runner.h"

#include <chrono>
#include <cstring>

#include "proto_convert.h"
#include "quantd/core/quantize.h"

namespace quantd::server {

StatusOr<quantd::v1::QuantizeResponse> RunChunk(const AssembledChunk& c, std::string_view data,
                                                const std::string* hessian, Device policy) {
  const std::string who = "chunk " + std::to_string(c.chunk_id) + " of tensor '" + c.tensor_name + "'";
  auto method = proto::FromProto(c.params);
  if (!method.ok()) return method.status().WithContext(who);
  if (data.size() != c.budget_bytes) {
    return InvalidArgumentError(who + ": " + std::to_string(data.size()) + " data bytes, expected " +
                                std::to_string(c.budget_bytes) + " (row_count x cols x dtype size)");
  }
  // F32 rows are used where they lie (little-endian host; the buffer is aligned for float), other
  // dtypes are widened into `converted`.
  std::vector<float> converted;
  std::span<const float> values;
  if (c.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(data.data()) % alignof(float) == 0) {
    values = std::span<const float>(reinterpret_cast<const float*>(data.data()), data.size() / 4);
  } else {
    converted.resize(static_cast<size_t>(c.row_count * c.matrix.cols));
    QUANTD_RETURN_IF_ERROR(ConvertToFloat(c.dtype, {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, converted));
    values = converted;
  }
  Calibration calibration;
  calibration.column_max = c.column_max;  // a view of the chunk's vector
  if (!c.hessian_key.empty()) {
    if (hessian == nullptr) {
      return FailedPreconditionError(who + ": Hessian blob '" + c.hessian_key + "' was not uploaded on this stream");
    }
    const uint64_t n = static_cast<uint64_t>(c.matrix.cols);
    if (hessian->size() != n * n * 4) {
      return InvalidArgumentError(who + ": Hessian blob '" + c.hessian_key + "' holds " + std::to_string(hessian->size()) +
                                  " bytes, expected cols^2 F32 = " + std::to_string(n * n * 4));
    }
    if (reinterpret_cast<uintptr_t>(hessian->data()) % alignof(float) != 0) {
      return InternalError(who + ": Hessian blob is not aligned for F32");
    }
    calibration.hessian = std::span<const float>(reinterpret_cast<const float*>(hessian->data()), n * n);
  }
  RowBlock block{.tensor_name = c.tensor_name,
                 .shape = c.shape,
                 .source_dtype = c.dtype,
                 .row_begin = c.row_begin,
                 .rows = c.row_count,
                 .cols = c.matrix.cols,
                 .data = values,
                 .calibration = (calibration.column_max.empty() && calibration.hessian.empty()) ? nullptr : &calibration};
  EncodeOptions options;
  if (c.device == quantd::v1::DEVICE_CPU || policy == Device::kCpu) {
    if (c.device == quantd::v1::DEVICE_CUDA) {
      return FailedPreconditionError(who + ": device CUDA requested from a server running with --device cpu");
    }
    options.device = Device::kCpu;
  } else {
    options.device = c.device == quantd::v1::DEVICE_CUDA ? Device::kCuda : Device::kAuto;
  }
  auto measured = EncodeAndMeasure(block, method->method, method->params, options);
  if (!measured.ok()) return measured.status();
  quantd::v1::QuantizeResponse r;
  r.set_chunk_id(c.chunk_id);
  r.set_tensor_name(c.tensor_name);
  const double bpw = measured->encoding.BitsPerWeight();
  proto::ToProto(measured->error, bpw, r.mutable_metrics());
  proto::ToProto(std::move(measured->encoding), r.mutable_encoding());
  r.set_device(measured->device == Device::kCuda ? "cuda:0" : "cpu");
  return r;
}

uint64_t DequantizeOutputBytes(const quantd::v1::DequantizeRequest& request) {
  const auto& e = request.encoding();
  if (e.row_end() <= e.row_begin() || e.cols() < 1 || e.row_begin() < 0) return 0;
  const uint64_t rows = static_cast<uint64_t>(e.row_end() - e.row_begin());
  if (rows > (uint64_t{1} << 40) / static_cast<uint64_t>(e.cols())) return 0;
  const size_t size = request.dtype() == quantd::v1::F16 || request.dtype() == quantd::v1::BF16 ? 2 : 4;
  return rows * static_cast<uint64_t>(e.cols()) * size;
}

StatusOr<quantd::v1::DequantizeResponse> RunDequantize(const quantd::v1::DequantizeRequest& request) {
  DType dtype = DType::kF32;
  if (request.dtype() != quantd::v1::DTYPE_UNSPECIFIED) {
    QUANTD_ASSIGN_OR_RETURN(dtype, proto::FromProto(request.dtype(), "dtype"));
  }
  if (!(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16)) {
    return InvalidArgumentError("dtype must be F32, F16 or BF16");
  }
  QUANTD_ASSIGN_OR_RETURN(Encoding enc, proto::FromProto(request.encoding()));
  QUANTD_ASSIGN_OR_RETURN(std::vector<float> values, DecodeRows(enc));
  quantd::v1::DequantizeResponse r;
  r.add_shape(enc.rows());
  r.add_shape(enc.cols);
  r.set_dtype(proto::ToProto(dtype));
  std::string* data = r.mutable_data();
  data->resize(values.size() * DTypeSize(dtype));
  QUANTD_RETURN_IF_ERROR(ConvertFromFloat(values, dtype, {reinterpret_cast<uint8_t*>(data->data()), data->size()}));
  return r;
}

}  // namespace quantd::server
