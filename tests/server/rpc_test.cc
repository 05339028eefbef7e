// The rpc library (proto/): the typed parameter messages agree with every method's table, and
// every conversion between the wire and the core round-trips.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "proto/convert.h"
#include "proto/credentials.h"
#include "quantd/core/method.h"
#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using google::protobuf::FieldDescriptor;
using ::quantd::testing::StatusIs;

// MethodParams' oneof field named after each method holds a message whose fields are exactly the
// method's parameters, each of a type that carries its values: what the reflection-based
// conversion relies on.
TEST(RpcTest, TypedMessagesMatchEveryMethodsTable) {
  const auto* oneof = v1::MethodParams::descriptor()->FindOneofByName("method");
  ASSERT_NE(oneof, nullptr);
  ASSERT_EQ(static_cast<size_t>(oneof->field_count()), AllMethods().size());
  for (const Method* m : AllMethods()) {
    const FieldDescriptor* field = v1::MethodParams::descriptor()->FindFieldByName(std::string(m->name()));
    ASSERT_NE(field, nullptr) << m->name() << " has no typed parameter message";
    ASSERT_EQ(field->containing_oneof(), oneof);
    const auto* message = field->message_type();
    std::set<std::string> fields, params;
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor* f = message->field(i);
      fields.insert(f->name());
      EXPECT_TRUE(f->has_presence()) << m->name() << "." << f->name() << " must be optional";
    }
    for (const ParamSpec& s : m->param_specs()) {
      params.insert(s.name);
      const FieldDescriptor* f = message->FindFieldByName(s.name);
      if (f == nullptr) continue;
      const auto t = f->cpp_type();
      switch (s.type) {
        case ParamType::kInt:
          EXPECT_TRUE(t == FieldDescriptor::CPPTYPE_INT32 || t == FieldDescriptor::CPPTYPE_INT64 ||
                      t == FieldDescriptor::CPPTYPE_UINT64)
              << m->name() << "." << s.name;
          break;
        case ParamType::kDouble:
          EXPECT_EQ(t, FieldDescriptor::CPPTYPE_DOUBLE) << m->name() << "." << s.name;
          break;
        case ParamType::kBool:
          EXPECT_EQ(t, FieldDescriptor::CPPTYPE_BOOL) << m->name() << "." << s.name;
          break;
        case ParamType::kChoice:
          EXPECT_EQ(t, FieldDescriptor::CPPTYPE_STRING) << m->name() << "." << s.name;
          break;
      }
    }
    EXPECT_EQ(fields, params) << m->name();
  }
}

// Typed and generic requests resolve to the same parameters.
TEST(RpcTest, TypedParametersConvertByReflection) {
  v1::MethodParams typed_rtn;
  typed_rtn.mutable_rtn()->set_bits(3);
  typed_rtn.mutable_rtn()->set_scale_dtype("f32");
  auto a = rpc::FromProto(typed_rtn);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->method, "rtn");
  EXPECT_EQ(a->params.ToString(), "bits=3,scale_dtype=f32");
  v1::MethodParams typed_pvq;
  typed_pvq.mutable_pvq()->set_use_hessian(true);
  typed_pvq.mutable_pvq()->set_bits(3.25);
  typed_pvq.mutable_pvq()->set_seed(uint64_t{1} << 40);
  EXPECT_EQ(rpc::FromProto(typed_pvq)->params.ToString(), "bits=3.25,seed=1099511627776,use_hessian=true");
  v1::MethodParams typed_cq;
  typed_cq.mutable_crossquant()->set_alpha(0.15);
  (*typed_cq.mutable_extra())["bits"] = "4";
  EXPECT_EQ(rpc::FromProto(typed_cq)->params.ToString(), "alpha=0.15,bits=4");
  v1::MethodParams generic;
  rpc::ToProto("kashin", {{"bits", "2"}, {"mode", "matrix"}}, &generic);
  auto g = rpc::FromProto(generic);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->method, "kashin");
  EXPECT_EQ(g->params.ToString(), "bits=2,mode=matrix");
  v1::MethodParams contradictory = typed_rtn;
  contradictory.set_method_name("pvq");
  EXPECT_THAT(rpc::FromProto(contradictory), StatusIs(StatusCode::kInvalidArgument, "contradicts"));
  EXPECT_THAT(rpc::FromProto(v1::MethodParams()), StatusIs(StatusCode::kInvalidArgument, "no method given"));
  // A field this build does not know (a newer client's parameter) is refused, not dropped.
  v1::MethodParams newer = typed_rtn;
  newer.mutable_rtn()->GetReflection()->MutableUnknownFields(newer.mutable_rtn())->AddVarint(99, 1);
  EXPECT_THAT(rpc::FromProto(newer),
              StatusIs(StatusCode::kInvalidArgument, "fields this server does not know"));
}

TEST(RpcTest, ChunkHeaderRoundTrips) {
  const ChunkSpec spec{.tensor = "model.layers.0.mlp.up_proj.weight",
                       .shape = {4, 2, 64},
                       .dtype = DType::kBF16,
                       .row_begin = 2,
                       .row_count = 5,
                       .method = "pvq",
                       .params = {{"bits", "4.125"}, {"search", "greedy"}}};
  for (Device d : {Device::kAuto, Device::kCpu, Device::kCuda}) {
    v1::QuantizeRequest m;
    rpc::ToRequestHeader(spec, d, &m);
    auto back = rpc::ChunkSpecFromRequest(m);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->tensor, spec.tensor);
    EXPECT_EQ(back->shape, spec.shape);
    EXPECT_EQ(back->dtype, spec.dtype);
    EXPECT_EQ(back->row_begin, spec.row_begin);
    EXPECT_EQ(back->row_count, spec.row_count);
    EXPECT_EQ(back->method, spec.method);
    EXPECT_EQ(back->params, spec.params);
    EXPECT_EQ(*rpc::FromProto(m.device()), d);
  }
  EXPECT_THAT(rpc::FromProto(static_cast<v1::Device>(7)), StatusIs(StatusCode::kInvalidArgument, "device"));
  for (Device d : {Device::kCpu, Device::kCuda}) EXPECT_EQ(rpc::DeviceFromLabel(rpc::DeviceLabel(d)), d);
  EXPECT_EQ(rpc::DeviceFromLabel("cuda:3"), Device::kCuda);
  v1::QuantizeRequest bad;
  bad.set_dtype(static_cast<v1::DType>(99));
  EXPECT_THAT(rpc::ChunkSpecFromRequest(bad), StatusIs(StatusCode::kInvalidArgument, "dtype"));
}

TEST(RpcTest, EncodingAndStatusRoundTrip) {
  const auto w = testing::Gaussian(6 * 32, 2, 0.02f);
  Encoding e = testing::MustEncodeMatrix("crossquant", w, 6, 32, {{"bits", "5"}});
  v1::Encoding wire;
  rpc::ToProto(e, &wire);
  EXPECT_EQ(wire.format_version(), rpc::kEncodingMessageVersion);
  auto back = rpc::FromProto(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, e);
  wire.set_format_version(2);
  EXPECT_THAT(rpc::FromProto(wire), StatusIs(StatusCode::kInvalidArgument, "format_version 2"));
  const Status s = ResourceExhaustedError("full");
  v1::ChunkError ce;
  rpc::ToProto(s, &ce);
  EXPECT_EQ(rpc::FromProto(ce), s);
  EXPECT_EQ(rpc::FromGrpc(rpc::ToGrpc(s)), s);
}

// GetInfo's method entries are the tables themselves.
TEST(RpcTest, MethodInfoIsTheTable) {
  for (const Method* m : AllMethods()) {
    v1::MethodInfo info;
    rpc::ToProto(*m, &info);
    EXPECT_EQ(info.name(), m->name());
    ASSERT_EQ(static_cast<size_t>(info.params_size()), m->param_specs().size());
    for (int i = 0; i < info.params_size(); ++i) {
      const ParamSpec& s = m->param_specs()[static_cast<size_t>(i)];
      EXPECT_EQ(info.params(i).name(), s.name);
      EXPECT_EQ(info.params(i).type(), ParamTypeName(s.type));
      EXPECT_EQ(info.params(i).default_value(), s.default_value);
      EXPECT_EQ(info.params(i).range(), s.range);
    }
  }
}

// One reader and one trimming rule for the secret files both ends take.
TEST(RpcTest, SecretFiles) {
  const std::string dir = ::testing::TempDir();
  const std::string token = dir + "/quantd-rpc-token";
  std::ofstream(token) << "s3cret \r\n\n";
  auto t = rpc::ReadTokenFile(token, "--token-file");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "s3cret");
  EXPECT_EQ(rpc::BearerValue(*t), "Bearer s3cret");
  std::ofstream(token) << "\n";
  EXPECT_THAT(rpc::ReadTokenFile(token, "--token-file"),
              StatusIs(StatusCode::kFailedPrecondition, "is empty"));
  EXPECT_THAT(rpc::ReadSecretFile(dir + "/no-such-file", "--tls-ca"),
              StatusIs(StatusCode::kFailedPrecondition, "--tls-ca " + dir + "/no-such-file cannot be read"));
  const std::string big = dir + "/quantd-rpc-big";
  std::ofstream(big) << std::string(rpc::kMaxSecretFileBytes + 1, 'x');
  EXPECT_THAT(rpc::ReadSecretFile(big, "--tls-cert"),
              StatusIs(StatusCode::kFailedPrecondition, "over 1 MiB"));
  EXPECT_THAT(rpc::ClientCredentials({.ca = "", .cert = token, .key = ""}), StatusIs(StatusCode::kFailedPrecondition, "together"));
  EXPECT_THAT(rpc::ServerCredentials({.cert = "", .key = "", .client_ca = token}),
              StatusIs(StatusCode::kFailedPrecondition, "--tls-client-ca"));
  EXPECT_TRUE(rpc::ClientCredentials({}).ok());
  std::filesystem::remove(token);
  std::filesystem::remove(big);
}

}  // namespace
}  // namespace quantd
