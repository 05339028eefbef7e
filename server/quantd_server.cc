#include "server/quantd_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "proto/credentials.h"
#include "server/log.h"

namespace quantd::server {
namespace {

constexpr char kServiceName[] = "quantd.v1.Quantizer";

}  // namespace

StatusOr<std::unique_ptr<QuantdServer>> QuantdServer::Start(const ServerOptions& options) {
  if (options.quiet) SetLogEnabled(false);
  std::unique_ptr<QuantdServer> s(new QuantdServer());
  s->options_ = options;
  if (s->options_.name.empty()) s->options_.name = options.listen;

  std::string token;
  if (!options.token_file.empty()) {
    QUANTD_ASSIGN_OR_RETURN(token, rpc::ReadTokenFile(options.token_file, "--token-file"));
  }
  QUANTD_ASSIGN_OR_RETURN(
      std::shared_ptr<grpc::ServerCredentials> creds,
      rpc::ServerCredentials(
          {.cert = options.tls_cert, .key = options.tls_key, .client_ca = options.tls_client_ca}));

  if (!options.metrics_listen.empty()) {
    s->metrics_ = std::make_unique<ServerMetrics>();
    try {
      s->exposer_ = std::make_unique<prometheus::Exposer>(options.metrics_listen);
    } catch (const std::exception& e) {
      return UnavailableError("--metrics-listen " + options.metrics_listen + ": " + e.what());
    }
    s->exposer_->RegisterCollectable(s->metrics_->registry());
    auto ports = s->exposer_->GetListeningPorts();
    s->metrics_port_ = ports.empty() ? 0 : ports.front();
  }
  s->service_ = std::make_unique<QuantizerService>(s->options_, token, s->metrics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &s->port_);
  builder.RegisterService(s->service_.get());
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(options.max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  if (options.stream_window_bytes > 0) {
    // A fixed receive window: with gRPC's bandwidth-delay probing the window of a call that quantd
    // does not read from (its share of the budget is full) grows to tens of MiB, all buffered here.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
                               static_cast<int>(options.stream_window_bytes));
  }
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) return UnavailableError("cannot listen on " + options.listen);

  if (!options.health_listen.empty()) {
    grpc::ServerBuilder hb;
    hb.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(), &s->health_port_);
    s->health_server_ = hb.BuildAndStart();
    if (!s->health_server_ || s->health_port_ == 0) {
      s->server_->Shutdown();
      return UnavailableError("cannot listen on --health-listen " + options.health_listen);
    }
  }
  s->SetServing(true);
  if (!token.empty() && options.tls_cert.empty()) {
    LogLine(
        "WARNING: --token-file without --tls-cert: the bearer token travels in cleartext; anyone who can "
        "see the traffic can replay it");
  }
  LogLine("serving on " + options.listen + " (port " + std::to_string(s->port_) + "), " +
          std::to_string(s->service_->pool().threads()) + " threads, budget " +
          std::to_string(options.max_inflight_bytes) + " bytes" +
          (token.empty() ? "" : ", bearer token required") + (options.tls_cert.empty() ? "" : ", TLS") +
          (options.tls_client_ca.empty() ? "" : " with client certificates"));
  return s;
}

void QuantdServer::SetServing(bool serving) {
  for (grpc::Server* srv : {server_.get(), health_server_.get()}) {
    if (srv == nullptr || srv->GetHealthCheckService() == nullptr) continue;
    srv->GetHealthCheckService()->SetServingStatus(serving);
    srv->GetHealthCheckService()->SetServingStatus(kServiceName, serving);
  }
}

void QuantdServer::Shutdown(double grace_seconds) {
  if (shut_down_) return;
  shut_down_ = true;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, grace_seconds) * 1000));
  LogLine("draining: " + std::to_string(service_->open_streams()) + " open streams, grace " +
          std::to_string(grace_seconds) + " s");
  SetServing(false);
  service_->BeginDrain();
  const bool drained = service_->WaitForStreams(deadline);
  // Unary RPCs still running finish within the same deadline.
  service_->pool().WaitIdle(deadline);
  // What remains is idle connections (and RPCs that raced the drain); gRPC takes system_clock
  // deadlines.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  service_->pool().WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  if (health_server_) health_server_->Shutdown();
  LogLine(drained ? "stopped" : "stopped after the grace period; unfinished streams were cancelled");
}

void QuantdServer::Wait() {
  server_->Wait();
  if (health_server_) health_server_->Wait();
}

QuantdServer::~QuantdServer() {
  if (server_ && !shut_down_) Shutdown(0);
}

}  // namespace quantd::server
