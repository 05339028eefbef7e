// File: quantizer_service.h
//
// `QuantizerService`: the quantd.v1.Quantizer gRPC service (callback API). RPC handlers only
// parse, check and hand work to the WorkPool; no handler blocks a gRPC thread.
//
// Memory: chunks hold bytes of the ByteBudget from the moment their size is known until their
// answer is written, so answers a client does not read still count. One stream may hold at most
// its share (--max-stream-bytes); a stream that cannot get bytes, from its share or from the
// budget, stops reading until some are released. A stream that holds bytes without progress for
// --stream-idle-seconds is ended. Unary calls wait for budget in a bounded queue (their waiting
// bytes at most the budget) and leave it when the client cancels or its deadline passes.
//
// Lifecycle: BeginDrain() (SIGTERM) makes new RPCs fail with UNAVAILABLE and asks every open
// stream to stop reading, finish its in-flight chunks, send their results and end with
// UNAVAILABLE, so that clients resend what was not answered elsewhere.
#ifndef QUANTD_SERVER_QUANTIZER_SERVICE_H_
#define QUANTD_SERVER_QUANTIZER_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "quantd/core/device.h"
#include "quantd/v1/quantizer.grpc.pb.h"
#include "server/byte_budget.h"
#include "server/server_metrics.h"
#include "server/server_options.h"
#include "server/work_pool.h"

namespace quantd::server {

class QuantizeStream;

class QuantizerService final : public quantd::v1::Quantizer::CallbackService {
 public:
  // `metrics` may be null (no metrics). `token` empty: no authentication.
  QuantizerService(const ServerOptions& options, std::string token, ServerMetrics* metrics);
  ~QuantizerService() override;

  grpc::ServerBidiReactor<quantd::v1::QuantizeRequest, quantd::v1::QuantizeResponse>* Quantize(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* QuantizeChunk(grpc::CallbackServerContext* context,
                                          const quantd::v1::QuantizeRequest* request,
                                          quantd::v1::QuantizeResponse* response) override;
  grpc::ServerUnaryReactor* Dequantize(grpc::CallbackServerContext* context,
                                       const quantd::v1::DequantizeRequest* request,
                                       quantd::v1::DequantizeResponse* response) override;
  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* context,
                                    const quantd::v1::GetInfoRequest* request,
                                    quantd::v1::GetInfoResponse* response) override;

  void BeginDrain();
  bool draining() const { return draining_.load(); }
  // Blocks until every stream has ended, or until `deadline`; returns whether all ended.
  bool WaitForStreams(std::chrono::steady_clock::time_point deadline);
  size_t open_streams() const;

  ByteBudget& budget() { return budget_; }
  WorkPool& pool() { return pool_; }
  ServerMetrics* metrics() { return metrics_; }
  const ServerOptions& options() const { return options_; }
  // False under --device cpu (requests may otherwise ask for either device).
  bool gpu_allowed() const { return gpu_allowed_; }
  // Budget bytes one stream (or unary call) may hold: --max-stream-bytes, by default half the
  // budget, so that one client cannot take all of it.
  uint64_t stream_share() const { return stream_share_; }

 private:
  friend class QuantizeStream;
  // UNAUTHENTICATED when a token is configured and the call lacks it; UNAVAILABLE when draining;
  // with `takes_slot`, RESOURCE_EXHAUSTED when --max-calls calls are open (else the call holds a
  // slot, given back with ReleaseCallSlot when it is done).
  grpc::Status Admit(const grpc::CallbackServerContext* context, const char* rpc, bool takes_slot);
  void ReleaseCallSlot() { open_calls_.fetch_sub(1); }
  void AddStream(QuantizeStream* s);
  void RemoveStream(QuantizeStream* s);
  void PublishBudget();
  class UnaryCall;
  // Ends streams that hold budget without progress (QuantizeStream::CheckIdle), until stopped.
  void ReapIdleStreams();

  const ServerOptions options_;
  const std::string token_;
  ServerMetrics* metrics_;
  ByteBudget budget_;
  WorkPool pool_;
  const bool gpu_allowed_;
  const uint64_t stream_share_;
  std::atomic<bool> draining_{false};
  std::atomic<int> open_calls_{0};
  mutable std::mutex mu_;
  std::condition_variable streams_done_;
  std::set<QuantizeStream*> streams_;
  bool stopping_ = false;  // guarded by mu_
  std::condition_variable reaper_wake_;
  std::thread reaper_;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_QUANTIZER_SERVICE_H_
