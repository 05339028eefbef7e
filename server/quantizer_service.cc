#include "server/quantizer_service.h"

#include <exception>

#include "proto/convert.h"
#include "quantd/core/method.h"
#include "server/chunk_runner.h"
#include "server/log.h"
#include "server/quantize_stream.h"

namespace quantd::server {
namespace {

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

QuantizerService::QuantizerService(const ServerOptions& options, std::string token, ServerMetrics* metrics)
    : options_(options),
      token_(std::move(token)),
      metrics_(metrics),
      budget_(options.max_inflight_bytes),
      pool_(options.threads),
      gpu_allowed_(options.device != Device::kCpu) {}

QuantizerService::~QuantizerService() = default;

grpc::Status QuantizerService::Admit(const grpc::CallbackServerContext* context, const char* rpc) {
  if (metrics_) metrics_->Request(rpc);
  if (!token_.empty()) {
    const auto& md = context->client_metadata();
    auto it = md.find("authorization");
    const std::string expected = "Bearer " + token_;
    if (it == md.end() ||
        !ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), expected)) {
      if (metrics_) metrics_->Error("UNAUTHENTICATED");
      LogLine(std::string(rpc) + " from " + context->peer() + ": missing or wrong bearer token");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token");
    }
  }
  if (draining_) {
    if (metrics_) metrics_->Error("UNAVAILABLE");
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
  }
  return grpc::Status::OK;
}

void QuantizerService::PublishBudget() {
  if (metrics_) metrics_->InflightBytes(static_cast<double>(budget_.in_use()));
}

void QuantizerService::AddStream(QuantizeStream* s) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.insert(s);
}

void QuantizerService::RemoveStream(QuantizeStream* s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (streams_.erase(s) && streams_.empty()) streams_done_.notify_all();
}

size_t QuantizerService::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

void QuantizerService::BeginDrain() {
  draining_ = true;
  // Under mu_: a stream cannot be deleted while it is drained (its OnDone takes mu_ first, and
  // gRPC never runs OnDone inline from Finish).
  std::lock_guard<std::mutex> lock(mu_);
  for (QuantizeStream* s : streams_) s->Drain();
}

bool QuantizerService::WaitForStreams(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return streams_done_.wait_until(lock, deadline, [&] { return streams_.empty(); });
}

grpc::ServerBidiReactor<quantd::v1::QuantizeRequest, quantd::v1::QuantizeResponse>*
QuantizerService::Quantize(grpc::CallbackServerContext* context) {
  auto* stream = new QuantizeStream(this, context);
  stream->Start();
  return stream;
}

void QuantizerService::FailUnary(grpc::ServerUnaryReactor* reactor, const char* rpc, const Status& s) {
  if (metrics_) metrics_->Error(std::string(StatusCodeName(s.code())));
  LogLine(std::string(rpc) + " failed: " + s.ToString());
  reactor->Finish(rpc::ToGrpc(s));
}

void QuantizerService::RunUnary(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                                const char* rpc, uint64_t bytes, std::function<Status()> work) {
  // Runs once `bytes` of the budget are ours: on the pool, never on a gRPC thread.
  auto run = [this, context, reactor, rpc, bytes, work = std::move(work)] {
    pool_.Submit([this, context, reactor, rpc, bytes, work] {
      Status status;
      if (context->IsCancelled()) {
        status = CancelledError("cancelled by the client");
      } else {
        try {
          status = work();
        } catch (const std::exception& e) {
          status = InternalError(e.what());
        }
      }
      budget_.Release(bytes);
      PublishBudget();
      if (status.ok()) {
        reactor->Finish(grpc::Status::OK);
      } else {
        FailUnary(reactor, rpc, status);
      }
    });
  };
  uint64_t ticket = 0;
  if (budget_.AcquireOrWait(bytes, &ticket, run)) run();
  PublishBudget();
}

grpc::ServerUnaryReactor* QuantizerService::QuantizeChunk(grpc::CallbackServerContext* context,
                                                          const quantd::v1::QuantizeRequest* request,
                                                          quantd::v1::QuantizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status admitted = Admit(context, "QuantizeChunk");
  if (!admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  auto header = ValidateChunkHeader(*request, budget_.capacity());
  if (!header.ok()) {
    FailUnary(reactor, "QuantizeChunk", header.status());
    return reactor;
  }
  if (request->data().size() != header->budget_bytes || request->data_offset() != 0) {
    FailUnary(reactor, "QuantizeChunk",
              InvalidArgumentError("chunk " + std::to_string(request->chunk_id()) + " of tensor '" +
                                   request->tensor_name() +
                                   "': QuantizeChunk needs the whole chunk in one message (" +
                                   std::to_string(header->budget_bytes) + " bytes), got " +
                                   std::to_string(request->data().size()) + " at offset " +
                                   std::to_string(request->data_offset())));
    return reactor;
  }
  const std::string* hessian = nullptr;
  if (!request->hessian_key().empty()) {
    if (!request->has_blob() || request->blob().key() != request->hessian_key() ||
        request->blob().offset() != 0 || request->blob().data().size() != request->blob().total_bytes()) {
      FailUnary(reactor, "QuantizeChunk",
                InvalidArgumentError("QuantizeChunk: hessian_key '" + request->hessian_key() +
                                     "' must name a whole blob carried in the same message"));
      return reactor;
    }
    hessian = &request->blob().data();
  }
  auto chunk = std::make_shared<ReceivedChunk>(std::move(*header));
  RunUnary(context, reactor, "QuantizeChunk", chunk->budget_bytes,
           [this, request, response, chunk, hessian]() -> Status {
             const auto start = std::chrono::steady_clock::now();
             QUANTD_ASSIGN_OR_RETURN(*response, RunChunk(*chunk, request->data(), hessian, gpu_allowed_));
             response->mutable_timings()->set_encode_seconds(
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
             response->set_server(options_.name);
             return OkStatus();
           });
  return reactor;
}

grpc::ServerUnaryReactor* QuantizerService::Dequantize(grpc::CallbackServerContext* context,
                                                       const quantd::v1::DequantizeRequest* request,
                                                       quantd::v1::DequantizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status admitted = Admit(context, "Dequantize");
  if (!admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  const uint64_t bytes = DequantizeOutputBytes(*request);
  if (bytes > budget_.capacity()) {
    FailUnary(reactor, "Dequantize",
              ResourceExhaustedError("decoded output of " + std::to_string(bytes) +
                                     " bytes exceeds --max-inflight-bytes"));
    return reactor;
  }
  RunUnary(context, reactor, "Dequantize", bytes, [request, response]() -> Status {
    QUANTD_ASSIGN_OR_RETURN(*response, RunDequantize(*request));
    return OkStatus();
  });
  return reactor;
}

grpc::ServerUnaryReactor* QuantizerService::GetInfo(grpc::CallbackServerContext* context,
                                                    const quantd::v1::GetInfoRequest* request,
                                                    quantd::v1::GetInfoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status admitted = Admit(context, "GetInfo");
  if (!admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  response->set_version(QUANTD_VERSION);
  response->set_format_version(rpc::kEncodingMessageVersion);
  for (const Method* m : AllMethods()) rpc::ToProto(*m, response->add_methods());
  auto* cpu = response->add_devices();
  cpu->set_name("cpu");
  cpu->set_description(std::to_string(pool_.threads()) + " threads");
  if (gpu_allowed_) {
    for (const CudaDeviceInfo& d : CudaDevices()) {
      auto* gpu = response->add_devices();
      gpu->set_name("cuda:" + std::to_string(d.index));
      gpu->set_description(d.name + ", " + std::to_string(d.multiprocessors) + " SMs");
      gpu->set_memory_bytes(d.memory_bytes);
    }
  }
  response->set_threads(pool_.threads());
  response->set_max_message_bytes(options_.max_message_bytes);
  response->set_max_inflight_bytes(options_.max_inflight_bytes);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace quantd::server
