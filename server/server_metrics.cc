#include "server/server_metrics.h"

namespace quantd::server {
namespace {

prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("quantd_requests_total")
                    .Help("RPCs started, by RPC")
                    .Register(*registry_)),
      chunks_(prometheus::BuildCounter()
                  .Name("quantd_chunks_total")
                  .Help("Chunks encoded, by method")
                  .Register(*registry_)),
      bytes_in_(prometheus::BuildCounter()
                    .Name("quantd_bytes_received_total")
                    .Help("Chunk bytes received")
                    .Register(*registry_)
                    .Add({})),
      bytes_out_(prometheus::BuildCounter()
                     .Name("quantd_bytes_sent_total")
                     .Help("Encoded section bytes sent")
                     .Register(*registry_)
                     .Add({})),
      errors_(prometheus::BuildCounter()
                  .Name("quantd_errors_total")
                  .Help("Failed chunks and RPCs, by gRPC code")
                  .Register(*registry_)),
      seconds_(prometheus::BuildHistogram()
                   .Name("quantd_chunk_seconds")
                   .Help("Encode time per chunk, by method")
                   .Register(*registry_)),
      inflight_chunks_(prometheus::BuildGauge()
                           .Name("quantd_inflight_chunks")
                           .Help("Chunks received and not yet answered")
                           .Register(*registry_)
                           .Add({})),
      inflight_bytes_(prometheus::BuildGauge()
                          .Name("quantd_inflight_bytes")
                          .Help("Bytes held against --max-inflight-bytes")
                          .Register(*registry_)
                          .Add({})) {}

void ServerMetrics::Request(const std::string& rpc) { requests_.Add({{"rpc", rpc}}).Increment(); }

void ServerMetrics::Chunk(const std::string& method, uint64_t bytes_in, uint64_t bytes_out, double seconds) {
  chunks_.Add({{"method", method}}).Increment();
  bytes_in_.Increment(static_cast<double>(bytes_in));
  bytes_out_.Increment(static_cast<double>(bytes_out));
  seconds_.Add({{"method", method}}, SecondsBuckets()).Observe(seconds);
}

void ServerMetrics::Error(const std::string& code) { errors_.Add({{"code", code}}).Increment(); }
void ServerMetrics::InflightChunks(double delta) { inflight_chunks_.Increment(delta); }
void ServerMetrics::InflightBytes(double value) { inflight_bytes_.Set(value); }

}  // namespace quantd::server
