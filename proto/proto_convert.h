// File: proto_convert.h
//
// Conversions between the quantd.v1 messages and the core library's types, used by both the
// server and the client. Messages from the wire are untrusted: conversions into core types check
// enum values and sizes and return INVALID_ARGUMENT naming the field.
#ifndef QUANTD_PROTO_PROTO_CONVERT_H_
#define QUANTD_PROTO_PROTO_CONVERT_H_

#include <grpcpp/support/status.h>

#include <string>

#include "quantd/core/encoding.h"
#include "quantd/core/metrics.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"
#include "quantd/v1/quantizer.pb.h"

namespace quantd::proto {

inline constexpr uint32_t kFormatVersion = 1;

quantd::v1::DType ToProto(DType d);
StatusOr<DType> FromProto(quantd::v1::DType d, std::string_view field);

void ToProto(const Encoding& e, quantd::v1::Encoding* out);
// Moves section bytes out of `e` (avoids a copy of the largest part).
void ToProto(Encoding&& e, quantd::v1::Encoding* out);
StatusOr<Encoding> FromProto(const quantd::v1::Encoding& e);

// The method name and its parameters as the core takes them: typed fields first, then `extra`.
struct MethodAndParams {
  std::string method;
  Params params;
};
StatusOr<MethodAndParams> FromProto(const quantd::v1::MethodParams& p);
// The reverse, for clients: fills the typed message when `method` has one and every key is a
// typed field, otherwise method_name + extra.
void ToProto(const std::string& method, const Params& params, quantd::v1::MethodParams* out);

void ToProto(const ErrorSums& sums, double bits_per_weight, quantd::v1::ChunkMetrics* out);
ErrorSums SumsFromProto(const quantd::v1::ChunkMetrics& m);

// Status conversions; the codes are numerically the same.
grpc::Status ToGrpc(const Status& s);
Status FromGrpc(const grpc::Status& s);
void ToProto(const Status& s, quantd::v1::ChunkError* out);
Status FromProto(const quantd::v1::ChunkError& e);

}  // namespace quantd::proto

#endif  // QUANTD_PROTO_PROTO_CONVERT_H_
