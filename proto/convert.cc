#include "proto/convert.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <cmath>

#include "quantd/core/params.h"

namespace quantd::rpc {
namespace {

using v1::DType;

struct DTypePair {
  quantd::DType core;
  v1::DType wire;
};
constexpr DTypePair kDTypes[] = {
    {quantd::DType::kF32, v1::F32},   {quantd::DType::kF16, v1::F16}, {quantd::DType::kBF16, v1::BF16},
    {quantd::DType::kF64, v1::F64},   {quantd::DType::kU8, v1::U8},   {quantd::DType::kI8, v1::I8},
    {quantd::DType::kU16, v1::U16},   {quantd::DType::kI16, v1::I16}, {quantd::DType::kU32, v1::U32},
    {quantd::DType::kI32, v1::I32},   {quantd::DType::kU64, v1::U64}, {quantd::DType::kI64, v1::I64},
    {quantd::DType::kBool, v1::BOOL},
};

template <typename Msg>
void SetCommon(const Encoding& e, Msg* out) {
  out->set_format_version(kEncodingMessageVersion);
  out->set_method(e.method);
  for (const auto& [k, v] : e.params.entries()) (*out->mutable_params())[k] = v;
  for (int64_t d : e.shape) out->add_shape(d);
  out->set_source_dtype(ToProto(e.source_dtype));
  out->set_row_begin(e.row_begin);
  out->set_row_end(e.row_end);
  out->set_cols(e.cols);
  for (const auto& [k, v] : e.stats) (*out->mutable_stats())[k] = v;
}

// A set field of a typed parameter message, as the parameter string the core parses.
std::string FieldText(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return FormatDouble(r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FormatDouble(r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, f) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->GetEnum(m, f)->name();
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "";
}

}  // namespace

v1::DType ToProto(quantd::DType d) {
  for (const DTypePair& p : kDTypes) {
    if (p.core == d) return p.wire;
  }
  return v1::DTYPE_UNSPECIFIED;
}

StatusOr<quantd::DType> FromProto(v1::DType d, std::string_view field) {
  for (const DTypePair& p : kDTypes) {
    if (p.wire == d) return p.core;
  }
  return InvalidArgumentError(std::string(field) + ": unknown or unspecified dtype " +
                              std::to_string(static_cast<int>(d)));
}

v1::Device ToProto(Device d) {
  switch (d) {
    case Device::kCpu:
      return v1::DEVICE_CPU;
    case Device::kCuda:
      return v1::DEVICE_CUDA;
    case Device::kAuto:
      return v1::DEVICE_AUTO;
  }
  return v1::DEVICE_AUTO;
}

StatusOr<Device> FromProto(v1::Device d) {
  switch (d) {
    case v1::DEVICE_AUTO:
      return Device::kAuto;
    case v1::DEVICE_CPU:
      return Device::kCpu;
    case v1::DEVICE_CUDA:
      return Device::kCuda;
    default:
      break;
  }
  return InvalidArgumentError("device: unknown value " + std::to_string(static_cast<int>(d)));
}

std::string DeviceLabel(Device used) { return used == Device::kCuda ? "cuda:0" : "cpu"; }

Device DeviceFromLabel(std::string_view label) {
  return label.substr(0, 4) == "cuda" ? Device::kCuda : Device::kCpu;
}

StatusOr<ChunkSpec> ChunkSpecFromRequest(const v1::QuantizeRequest& m) {
  ChunkSpec spec;
  spec.tensor = m.tensor_name();
  spec.shape.assign(m.shape().begin(), m.shape().end());
  QUANTD_ASSIGN_OR_RETURN(spec.dtype, FromProto(m.dtype(), "dtype"));
  spec.row_begin = m.row_begin();
  spec.row_count = m.row_count();
  QUANTD_ASSIGN_OR_RETURN(MethodAndParams mp, FromProto(m.params()));
  spec.method = std::move(mp.method);
  spec.params = std::move(mp.params);
  return spec;
}

void ToRequestHeader(const ChunkSpec& spec, Device device, v1::QuantizeRequest* out) {
  out->set_tensor_name(spec.tensor);
  for (int64_t d : spec.shape) out->add_shape(d);
  out->set_dtype(ToProto(spec.dtype));
  out->set_row_begin(spec.row_begin);
  out->set_row_count(spec.row_count);
  ToProto(spec.method, spec.params, out->mutable_params());
  out->set_device(ToProto(device));
}

void ToProto(const Method& method, v1::MethodInfo* out) {
  out->set_name(std::string(method.name()));
  out->set_summary(std::string(method.summary()));
  for (const ParamSpec& p : method.param_specs()) {
    auto* pi = out->add_params();
    pi->set_name(p.name);
    pi->set_type(std::string(ParamTypeName(p.type)));
    pi->set_default_value(p.default_value);
    pi->set_range(p.range);
    pi->set_help(p.help);
  }
}

void ToProto(const Encoding& e, v1::Encoding* out) {
  SetCommon(e, out);
  for (const Section& s : e.sections) {
    v1::Section* ps = out->add_sections();
    ps->set_name(s.name);
    ps->set_dtype(ToProto(s.dtype));
    for (int64_t d : s.shape) ps->add_shape(d);
    ps->set_data(s.data.data(), s.data.size());
  }
}

void ToProto(Encoding&& e, v1::Encoding* out) {
  SetCommon(e, out);
  for (Section& s : e.sections) {
    v1::Section* ps = out->add_sections();
    ps->set_name(std::move(s.name));
    ps->set_dtype(ToProto(s.dtype));
    for (int64_t d : s.shape) ps->add_shape(d);
    ps->set_data(s.data.data(), s.data.size());
    std::vector<uint8_t>().swap(s.data);
  }
}

StatusOr<Encoding> FromProto(const v1::Encoding& p) {
  if (p.format_version() != kEncodingMessageVersion) {
    return InvalidArgumentError("encoding.format_version " + std::to_string(p.format_version()) +
                                " is not supported (expected " + std::to_string(kEncodingMessageVersion) +
                                ")");
  }
  Encoding e;
  e.method = p.method();
  for (const auto& [k, v] : p.params()) e.params.Set(k, v);
  e.shape.assign(p.shape().begin(), p.shape().end());
  QUANTD_ASSIGN_OR_RETURN(e.source_dtype, FromProto(p.source_dtype(), "encoding.source_dtype"));
  e.row_begin = p.row_begin();
  e.row_end = p.row_end();
  e.cols = p.cols();
  for (const auto& [k, v] : p.stats()) e.stats[k] = v;
  for (const v1::Section& ps : p.sections()) {
    Section s;
    s.name = ps.name();
    QUANTD_ASSIGN_OR_RETURN(s.dtype, FromProto(ps.dtype(), "encoding.sections[" + ps.name() + "].dtype"));
    s.shape.assign(ps.shape().begin(), ps.shape().end());
    auto count = MatrixShapeOf(s.shape);
    if (!count.ok()) return count.status().WithContext("encoding.sections[" + ps.name() + "].shape");
    if (static_cast<uint64_t>(count->num_elements()) * DTypeSize(s.dtype) != ps.data().size()) {
      return InvalidArgumentError("encoding.sections[" + ps.name() +
                                  "]: " + std::to_string(ps.data().size()) +
                                  " bytes do not match its shape and dtype");
    }
    s.data.assign(ps.data().begin(), ps.data().end());
    e.sections.push_back(std::move(s));
  }
  return e;
}

StatusOr<MethodAndParams> FromProto(const v1::MethodParams& p) {
  MethodAndParams out;
  const google::protobuf::Reflection* r = p.GetReflection();
  const google::protobuf::OneofDescriptor* oneof = p.GetDescriptor()->FindOneofByName("method");
  if (const google::protobuf::FieldDescriptor* typed = r->GetOneofFieldDescriptor(p, oneof)) {
    // The oneof field is named after its method, the typed message's fields after its
    // parameters; optional fields that are set are the parameters given.
    out.method = typed->name();
    const google::protobuf::Message& m = r->GetMessage(p, typed);
    if (!m.GetReflection()->GetUnknownFields(m).empty()) {
      // A newer client's parameter would otherwise be dropped and silently take its default.
      return InvalidArgumentError("params." + out.method +
                                  " has fields this server does not know (a newer client?); send such "
                                  "parameters in params.extra, where they are checked by name");
    }
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    m.GetReflection()->ListFields(m, &fields);
    for (const auto* f : fields) {
      if (f->is_repeated() || f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        return InvalidArgumentError("params." + out.method + "." + f->name() + " is not a parameter field");
      }
      out.params.Set(f->name(), FieldText(m, f));
    }
  } else {
    out.method = p.method_name();
  }
  if (out.method.empty())
    return InvalidArgumentError("params: no method given (set a typed message or method_name)");
  if (!p.method_name().empty() && p.method_name() != out.method) {
    return InvalidArgumentError("params: method_name '" + p.method_name() + "' contradicts the typed " +
                                out.method + " parameters");
  }
  for (const auto& [k, v] : p.extra()) out.params.Set(k, v);
  return out;
}

void ToProto(const std::string& method, const Params& params, v1::MethodParams* out) {
  // The generic form carries everything, for every method, exactly as recorded.
  out->set_method_name(method);
  for (const auto& [k, v] : params.entries()) (*out->mutable_extra())[k] = v;
}

void ToProto(const ErrorSums& s, double bits_per_weight, v1::ChunkMetrics* out) {
  const Metrics m = MetricsFromSums(s, bits_per_weight);
  out->set_count(s.count);
  out->set_signal_energy(s.signal_energy);
  out->set_error_energy(s.error_energy);
  out->set_max_abs_error(s.max_abs_error);
  out->set_sqnr_db(m.sqnr_db);
  out->set_relative_error(m.relative_error);
  out->set_mse(m.mse);
  out->set_bits_per_weight(bits_per_weight);
}

ErrorSums SumsFromProto(const v1::ChunkMetrics& m) {
  ErrorSums s;
  s.count = m.count();
  s.signal_energy = m.signal_energy();
  s.error_energy = m.error_energy();
  s.max_abs_error = m.max_abs_error();
  return s;
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return OkStatus();
  return Status(static_cast<StatusCode>(s.error_code()), s.error_message());
}

void ToProto(const Status& s, v1::ChunkError* out) {
  out->set_code(static_cast<int32_t>(s.code()));
  out->set_message(s.message());
}

Status FromProto(const v1::ChunkError& e) {
  if (e.code() == 0) return InternalError("chunk error with code OK: " + e.message());
  if (e.code() < 0 || e.code() > 16) return Status(StatusCode::kUnknown, e.message());
  return Status(static_cast<StatusCode>(e.code()), e.message());
}

}  // namespace quantd::rpc
