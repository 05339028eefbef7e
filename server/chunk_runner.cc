#include "server/chunk_runner.h"

#include <chrono>
#include <cstring>

#include "proto/convert.h"
#include "quantd/core/quantize.h"

namespace quantd::server {

StatusOr<quantd::v1::QuantizeResponse> RunChunk(const ReceivedChunk& c, std::string_view data,
                                                const std::string* hessian, bool gpu_allowed) {
  const std::string who = c.Describe();
  Calibration calibration;
  calibration.column_max = c.column_max;  // a view of the chunk's vector
  if (!c.hessian_key.empty()) {
    if (hessian == nullptr) {
      return FailedPreconditionError(who + ": Hessian blob '" + c.hessian_key +
                                     "' was not uploaded on this stream");
    }
    const uint64_t n = static_cast<uint64_t>(c.spec.cols());
    if (hessian->size() != n * n * 4) {
      return InvalidArgumentError(who + ": Hessian blob '" + c.hessian_key + "' holds " +
                                  std::to_string(hessian->size()) +
                                  " bytes, expected cols^2 F32 = " + std::to_string(n * n * 4));
    }
    if (reinterpret_cast<uintptr_t>(hessian->data()) % alignof(float) != 0) {
      return InternalError(who + ": Hessian blob is not aligned for F32");
    }
    calibration.hessian = std::span<const float>(reinterpret_cast<const float*>(hessian->data()), n * n);
  }
  auto result = EncodeChunk(c.spec, {reinterpret_cast<const uint8_t*>(data.data()), data.size()},
                            &calibration, {.device = c.device, .gpu_allowed = gpu_allowed});
  if (!result.ok()) return result.status();
  quantd::v1::QuantizeResponse r;
  r.set_chunk_id(c.chunk_id);
  r.set_tensor_name(c.spec.tensor);
  const double bpw = result->encoding.BitsPerWeight();
  rpc::ToProto(result->error, bpw, r.mutable_metrics());
  rpc::ToProto(std::move(result->encoding), r.mutable_encoding());
  r.set_device(rpc::DeviceLabel(result->device));
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
    QUANTD_ASSIGN_OR_RETURN(dtype, rpc::FromProto(request.dtype(), "dtype"));
  }
  if (!(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16)) {
    return InvalidArgumentError("dtype must be F32, F16 or BF16");
  }
  QUANTD_ASSIGN_OR_RETURN(Encoding enc, rpc::FromProto(request.encoding()));
  QUANTD_ASSIGN_OR_RETURN(std::vector<float> values, DecodeRows(enc));
  quantd::v1::DequantizeResponse r;
  r.add_shape(enc.rows());
  r.add_shape(enc.cols);
  r.set_dtype(rpc::ToProto(dtype));
  std::string* data = r.mutable_data();
  data->resize(values.size() * DTypeSize(dtype));
  QUANTD_RETURN_IF_ERROR(
      ConvertFromFloat(values, dtype, {reinterpret_cast<uint8_t*>(data->data()), data->size()}));
  return r;
}

}  // namespace quantd::server
