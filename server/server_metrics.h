// File: server_metrics.h
//
// Prometheus metrics of a quantd server (exposed on --metrics-listen at /metrics):
//   quantd_requests_total{rpc}                 RPCs started
//   quantd_chunks_total{method}                chunks encoded
//   quantd_bytes_received_total                chunk bytes received
//   quantd_bytes_sent_total                    encoded bytes sent
//   quantd_errors_total{code}                  failed chunks and RPCs by gRPC code
//   quantd_chunk_seconds{method}               encode time per chunk (histogram)
//   quantd_inflight_chunks                     chunks received and not yet answered
//   quantd_inflight_bytes                      bytes held against --max-inflight-bytes
// Thread-safe.
#ifndef QUANTD_SERVER_SERVER_METRICS_H_
#define QUANTD_SERVER_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace quantd::server {

class ServerMetrics {
 public:
  ServerMetrics();
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  void Request(const std::string& rpc);
  void Chunk(const std::string& method, uint64_t bytes_in, uint64_t bytes_out, double seconds);
  void Error(const std::string& code);
  void InflightChunks(double delta);
  void InflightBytes(double value);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& chunks_;
  prometheus::Counter& bytes_in_;
  prometheus::Counter& bytes_out_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  prometheus::Gauge& inflight_chunks_;
  prometheus::Gauge& inflight_bytes_;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_SERVER_METRICS_H_
