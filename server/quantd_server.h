// File: quantd_server.h
//
// `QuantdServer`: a running quantd: the gRPC server on --listen (Quantizer service, health
// service, reflection), the optional plaintext health-only server on --health-listen, and the
// optional Prometheus endpoint on --metrics-listen. Used by main.cc and, in-process, by tests.
#ifndef QUANTD_SERVER_QUANTD_SERVER_H_
#define QUANTD_SERVER_QUANTD_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <prometheus/exposer.h>

#include <memory>
#include <string>

#include "quantd/core/status.h"
#include "server/quantizer_service.h"
#include "server/server_metrics.h"
#include "server/server_options.h"

namespace quantd::server {

class QuantdServer {
 public:
  // Binds every port and starts serving. FAILED_PRECONDITION for unreadable TLS or token files,
  // UNAVAILABLE when a port cannot be bound.
  static StatusOr<std::unique_ptr<QuantdServer>> Start(const ServerOptions& options);
  ~QuantdServer();

  int port() const { return port_; }                  // the bound --listen port
  int health_port() const { return health_port_; }    // 0 without --health-listen
  int metrics_port() const { return metrics_port_; }  // 0 without --metrics-listen
  QuantizerService& service() { return *service_; }

  // Graceful stop: health NOT_SERVING, new RPCs refused, streams drained (their in-flight chunks
  // answered) for up to `grace_seconds`, then everything still open is cancelled.
  void Shutdown(double grace_seconds);
  // Blocks until Shutdown completes.
  void Wait();

 private:
  QuantdServer() = default;
  void SetServing(bool serving);

  ServerOptions options_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<QuantizerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;
  int port_ = 0;
  int health_port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_QUANTD_SERVER_H_
