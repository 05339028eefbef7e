// File: convert.h
//
// Every mapping between the quantd.v1 messages and the core's types, in one place, used by the
// server and the client alike. Messages from the wire are untrusted: conversions into core
// types check enum values and sizes and return INVALID_ARGUMENT naming the field.
//
// Method parameters need no per-method code: a typed message (RtnParams, ...) is the oneof field
// of MethodParams named after its method, and its fields are named after the method's
// parameters (param_table.h); protobuf reflection turns set fields into parameter strings.
// tests/server/rpc_test.cc checks that every method's table and typed message agree.
#ifndef QUANTD_PROTO_CONVERT_H_
#define QUANTD_PROTO_CONVERT_H_

#include <grpcpp/support/status.h>

#include <string>

#include "quantd/core/chunk.h"
#include "quantd/core/device.h"
#include "quantd/core/encoding.h"
#include "quantd/core/method.h"
#include "quantd/core/metrics.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"
#include "quantd/v1/quantizer.pb.h"

namespace quantd::rpc {

// Encoding.format_version: the version of the Encoding message's layout.
inline constexpr uint32_t kEncodingMessageVersion = 1;

v1::DType ToProto(DType d);
StatusOr<DType> FromProto(v1::DType d, std::string_view field);

v1::Device ToProto(Device d);
// DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA; INVALID_ARGUMENT for other values.
StatusOr<Device> FromProto(v1::Device d);
// "cpu" or "cuda:0": how a response names where its chunk ran; and back (kCuda for any "cuda:N").
std::string DeviceLabel(Device used);
Device DeviceFromLabel(std::string_view label);

void ToProto(const Encoding& e, v1::Encoding* out);
// Frees each section of `e` once it is copied, so that at most one section exists twice.
void ToProto(Encoding&& e, v1::Encoding* out);
StatusOr<Encoding> FromProto(const v1::Encoding& e);

// The method name and its parameters as the core takes them: the typed message's set fields
// first, then `extra`.
struct MethodAndParams {
  std::string method;
  Params params;
};
StatusOr<MethodAndParams> FromProto(const v1::MethodParams& p);
// The reverse, for clients: the generic form (method_name + extra), which carries every method
// and parameter exactly as recorded.
void ToProto(const std::string& method, const Params& params, v1::MethodParams* out);

// The chunk a request's header describes (its first message): tensor, shape, dtype, rows,
// method and parameters. Only the conversions are checked here; ValidateChunkSpec checks the
// rest.
StatusOr<ChunkSpec> ChunkSpecFromRequest(const v1::QuantizeRequest& m);
// Fills a request's header fields from `spec` and the requested device.
void ToRequestHeader(const ChunkSpec& spec, Device device, v1::QuantizeRequest* out);

// GetInfo's entry for `method`, from its parameter table.
void ToProto(const Method& method, v1::MethodInfo* out);

void ToProto(const ErrorSums& sums, double bits_per_weight, v1::ChunkMetrics* out);
ErrorSums SumsFromProto(const v1::ChunkMetrics& m);

// Status conversions; the codes are numerically the same.
grpc::Status ToGrpc(const Status& s);
Status FromGrpc(const grpc::Status& s);
void ToProto(const Status& s, v1::ChunkError* out);
Status FromProto(const v1::ChunkError& e);

}  // namespace quantd::rpc

#endif  // QUANTD_PROTO_CONVERT_H_
