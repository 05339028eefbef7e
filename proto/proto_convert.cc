#include "proto_convert.h"

#include <cmath>

#include "quantd/core/params.h"

namespace quantd::proto {
namespace {

using v1::DType;

struct DTypePair {
  quantd::DType core;
  v1::DType wire;
};
constexpr DTypePair kDTypes[] = {
    {quantd::DType::kF32, v1::F32},   {quantd::DType::kF16, v1::F16},   {quantd::DType::kBF16, v1::BF16},
    {quantd::DType::kF64, v1::F64},   {quantd::DType::kU8, v1::U8},     {quantd::DType::kI8, v1::I8},
    {quantd::DType::kU16, v1::U16},   {quantd::DType::kI16, v1::I16},   {quantd::DType::kU32, v1::U32},
    {quantd::DType::kI32, v1::I32},   {quantd::DType::kU64, v1::U64},   {quantd::DType::kI64, v1::I64},
    {quantd::DType::kBool, v1::BOOL},
};

template <typename Msg>
void SetCommon(const Encoding& e, Msg* out) {
  out->set_format_version(kFormatVersion);
  out->set_method(e.method);
  for (const auto& [k, v] : e.params.entries()) (*out->mutable_params())[k] = v;
  for (int64_t d : e.shape) out->add_shape(d);
  out->set_source_dtype(ToProto(e.source_dtype));
  out->set_row_begin(e.row_begin);
  out->set_row_end(e.row_end);
  out->set_cols(e.cols);
  for (const auto& [k, v] : e.stats) (*out->mutable_stats())[k] = v;
}

// Typed fields of a message, as parameter strings.
template <typename T>
void PutIf(bool has, const std::string& key, const T& value, Params* p) {
  if (!has) return;
  if constexpr (std::is_same_v<T, std::string>) {
    p->Set(key, value);
  } else if constexpr (std::is_floating_point_v<T>) {
    p->SetDouble(key, value);
  } else {
    p->Set(key, std::to_string(value));
  }
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
  return InvalidArgumentError(std::string(field) + ": unknown or unspecified dtype " + std::to_string(static_cast<int>(d)));
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
  if (p.format_version() != kFormatVersion) {
    return InvalidArgumentError("encoding.format_version " + std::to_string(p.format_version()) +
                                " is not supported (expected " + std::to_string(kFormatVersion) + ")");
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
      return InvalidArgumentError("encoding.sections[" + ps.name() + "]: " + std::to_string(ps.data().size()) +
                                  " bytes do not match its shape and dtype");
    }
    s.data.assign(ps.data().begin(), ps.data().end());
    e.sections.push_back(std::move(s));
  }
  return e;
}

StatusOr<MethodAndParams> FromProto(const v1::MethodParams& p) {
  MethodAndParams out;
  switch (p.method_case()) {
    case v1::MethodParams::kRtn: {
      const auto& m = p.rtn();
      out.method = "rtn";
      PutIf(m.has_bits(), "bits", m.bits(), &out.params);
      PutIf(m.has_group_size(), "group_size", m.group_size(), &out.params);
      PutIf(m.has_scale_dtype(), "scale_dtype", m.scale_dtype(), &out.params);
      break;
    }
    case v1::MethodParams::kKashin: {
      const auto& m = p.kashin();
      out.method = "kashin";
      PutIf(m.has_bits(), "bits", m.bits(), &out.params);
      PutIf(m.has_transform(), "transform", m.transform(), &out.params);
      PutIf(m.has_mode(), "mode", m.mode(), &out.params);
      PutIf(m.has_block_length(), "block_length", m.block_length(), &out.params);
      PutIf(m.has_tolerance(), "tolerance", m.tolerance(), &out.params);
      PutIf(m.has_max_iterations(), "max_iterations", m.max_iterations(), &out.params);
      PutIf(m.has_seed(), "seed", m.seed(), &out.params);
      PutIf(m.has_non_converged(), "non_converged", m.non_converged(), &out.params);
      PutIf(m.has_scale_dtype(), "scale_dtype", m.scale_dtype(), &out.params);
      PutIf(m.has_fallback_dtype(), "fallback_dtype", m.fallback_dtype(), &out.params);
      PutIf(m.has_kmeans_restarts(), "kmeans_restarts", m.kmeans_restarts(), &out.params);
      PutIf(m.has_step_choice(), "step_choice", m.step_choice(), &out.params);
      break;
    }
    case v1::MethodParams::kPvq: {
      const auto& m = p.pvq();
      out.method = "pvq";
      PutIf(m.has_bits(), "bits", m.bits(), &out.params);
      PutIf(m.has_k(), "k", m.k(), &out.params);
      PutIf(m.has_group_size(), "group_size", m.group_size(), &out.params);
      PutIf(m.has_gain_bits(), "gain_bits", m.gain_bits(), &out.params);
      PutIf(m.has_seed(), "seed", m.seed(), &out.params);
      PutIf(m.has_damp(), "damp", m.damp(), &out.params);
      if (m.has_use_hessian()) out.params.SetBool("use_hessian", m.use_hessian());
      PutIf(m.has_gain_codebook(), "gain_codebook", m.gain_codebook(), &out.params);
      PutIf(m.has_rotation(), "rotation", m.rotation(), &out.params);
      PutIf(m.has_scale_dtype(), "scale_dtype", m.scale_dtype(), &out.params);
      PutIf(m.has_search(), "search", m.search(), &out.params);
      break;
    }
    case v1::MethodParams::kCrossquant: {
      const auto& m = p.crossquant();
      out.method = "crossquant";
      PutIf(m.has_bits(), "bits", m.bits(), &out.params);
      PutIf(m.has_alpha(), "alpha", m.alpha(), &out.params);
      PutIf(m.has_scale_dtype(), "scale_dtype", m.scale_dtype(), &out.params);
      if (m.has_static_columns()) out.params.SetBool("static_columns", m.static_columns());
      break;
    }
    case v1::MethodParams::METHOD_NOT_SET:
      out.method = p.method_name();
      break;
  }
  if (out.method.empty()) return InvalidArgumentError("params: no method given (set a typed message or method_name)");
  if (!p.method_name().empty() && p.method_name() != out.method) {
    return InvalidArgumentError("params: method_name '" + p.method_name() + "' contradicts the typed " + out.method +
                                " parameters");
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

}  // namespace quantd::proto
