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
      gpu_allowed_(options.device != Device::kCpu),
      stream_share_(options.max_stream_bytes > 0
                        ? std::min(options.max_stream_bytes, options.max_inflight_bytes)
                        : std::max<uint64_t>(1, options.max_inflight_bytes / 2)) {
  if (options.stream_idle_seconds > 0) reaper_ = std::thread([this] { ReapIdleStreams(); });
}

QuantizerService::~QuantizerService() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  reaper_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

void QuantizerService::ReapIdleStreams() {
  const auto idle = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.stream_idle_seconds));
  // Checked a few times per idle period: a stream is ended between 1 and 1.25 idle periods in.
  const auto period = std::max<std::chrono::steady_clock::duration>(std::chrono::milliseconds(10), idle / 4);
  std::unique_lock<std::mutex> lock(mu_);
  while (!reaper_wake_.wait_for(lock, period, [&] { return stopping_; })) {
    // Under mu_, as in BeginDrain: a stream cannot be deleted while it is checked.
    const auto now = std::chrono::steady_clock::now();
    for (QuantizeStream* s : streams_) s->CheckIdle(now, idle);
  }
}

// A unary call (QuantizeChunk, Dequantize): waits for its bytes of the budget without blocking
// a gRPC thread, runs on the pool, and leaves the wait queue when the client cancels or its
// deadline passes.
class QuantizerService::UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(QuantizerService* service, grpc::CallbackServerContext* context, const char* rpc)
      : service_(service), context_(context), rpc_(rpc) {}

  void Fail(const Status& s) {
    if (service_->metrics_) service_->metrics_->Error(std::string(StatusCodeName(s.code())));
    LogLine(std::string(rpc_) + " failed: " + s.ToString());
    Finish(rpc::ToGrpc(s));
  }

  // Reserves `bytes`, then runs `work` on the pool and finishes with its status.
  void Run(uint64_t bytes, std::function<Status()> work) {
    ByteBudget& budget = service_->budget_;
    bytes_ = bytes;
    work_ = std::move(work);
    // Requests waiting for budget hold their messages: together they may hold at most the
    // budget again, so that waiting cannot grow memory without bound.
    if (budget.waiting_bytes() + bytes > budget.capacity()) {
      if (budget.TryAcquire(bytes)) {
        Granted();
      } else {
        Fail(ResourceExhaustedError("server busy: requests waiting for its memory budget already hold " +
                                    std::to_string(budget.waiting_bytes()) + " bytes; retry later"));
      }
      service_->PublishBudget();
      return;
    }
    bool granted;
    {
      // Held across AcquireOrWait (which never runs callbacks itself), so that OnCancel sees the
      // ticket of a queued call.
      std::lock_guard<std::mutex> lock(mu_);
      waiting_ = true;
      granted = budget.AcquireOrWait(bytes, &ticket_, [this] { Granted(); });
    }
    if (granted) Granted();
    service_->PublishBudget();
  }

  void OnCancel() override {
    uint64_t ticket;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!waiting_ || ticket_ == 0) return;  // running (it sees the cancellation) or done
      ticket = ticket_;
    }
    // Withdrawn: the bytes were never granted and the work never runs.
    if (service_->budget_.CancelWait(ticket)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        waiting_ = false;
      }
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while waiting for the memory budget"));
    }
  }

  // Admitted: OnDone gives the call's slot back.
  void HoldsSlot() { holds_slot_ = true; }

  void OnDone() override {
    if (holds_slot_) service_->ReleaseCallSlot();
    delete this;
  }

 private:
  void Granted() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_ = false;
    }
    service_->pool_.Submit([this] {
      Status status;
      if (context_->IsCancelled()) {
        status = CancelledError("cancelled by the client");
      } else {
        try {
          status = work_();
        } catch (const std::exception& e) {
          status = InternalError(e.what());
        }
      }
      service_->budget_.Release(bytes_);
      service_->PublishBudget();
      if (status.ok()) {
        Finish(grpc::Status::OK);
      } else {
        Fail(status);
      }
    });
  }

  QuantizerService* const service_;
  grpc::CallbackServerContext* const context_;
  const char* const rpc_;
  uint64_t bytes_ = 0;
  std::function<Status()> work_;
  std::mutex mu_;
  bool waiting_ = false;
  uint64_t ticket_ = 0;
  bool holds_slot_ = false;
};

grpc::Status QuantizerService::Admit(const grpc::CallbackServerContext* context, const char* rpc,
                                     bool takes_slot) {
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
  // Every open call may hold a received message and a receive window outside the budget: their
  // number is what bounds that memory.
  if (takes_slot && open_calls_.fetch_add(1) >= options_.max_calls) {
    open_calls_.fetch_sub(1);
    if (metrics_) metrics_->Error("RESOURCE_EXHAUSTED");
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "server busy: " + std::to_string(options_.max_calls) +
                            " calls already open (--max-calls); retry later");
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

grpc::ServerUnaryReactor* QuantizerService::QuantizeChunk(grpc::CallbackServerContext* context,
                                                          const quantd::v1::QuantizeRequest* request,
                                                          quantd::v1::QuantizeResponse* response) {
  auto* call = new UnaryCall(this, context, "QuantizeChunk");
  grpc::Status admitted = Admit(context, "QuantizeChunk", /*takes_slot=*/true);
  if (!admitted.ok()) {
    call->Finish(admitted);
    return call;
  }
  call->HoldsSlot();
  auto header = ValidateChunkHeader(*request, stream_share_);
  if (!header.ok()) {
    call->Fail(header.status());
    return call;
  }
  if (request->data().size() != header->budget_bytes || request->data_offset() != 0) {
    call->Fail(InvalidArgumentError(
        "chunk " + std::to_string(request->chunk_id()) + " of tensor '" + request->tensor_name() +
        "': QuantizeChunk needs the whole chunk in one message (" + std::to_string(header->budget_bytes) +
        " bytes), got " + std::to_string(request->data().size()) + " at offset " +
        std::to_string(request->data_offset())));
    return call;
  }
  const std::string* hessian = nullptr;
  if (!request->hessian_key().empty()) {
    if (!request->has_blob() || request->blob().key() != request->hessian_key() ||
        request->blob().offset() != 0 || request->blob().data().size() != request->blob().total_bytes()) {
      call->Fail(InvalidArgumentError("QuantizeChunk: hessian_key '" + request->hessian_key() +
                                      "' must name a whole blob carried in the same message"));
      return call;
    }
    hessian = &request->blob().data();
  }
  auto chunk = std::make_shared<ReceivedChunk>(std::move(*header));
  call->Run(chunk->budget_bytes, [this, request, response, chunk, hessian]() -> Status {
    const auto start = std::chrono::steady_clock::now();
    QUANTD_ASSIGN_OR_RETURN(*response, RunChunk(*chunk, request->data(), hessian, gpu_allowed_));
    response->mutable_timings()->set_encode_seconds(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    response->set_server(options_.name);
    return OkStatus();
  });
  return call;
}

grpc::ServerUnaryReactor* QuantizerService::Dequantize(grpc::CallbackServerContext* context,
                                                       const quantd::v1::DequantizeRequest* request,
                                                       quantd::v1::DequantizeResponse* response) {
  auto* call = new UnaryCall(this, context, "Dequantize");
  grpc::Status admitted = Admit(context, "Dequantize", /*takes_slot=*/true);
  if (!admitted.ok()) {
    call->Finish(admitted);
    return call;
  }
  call->HoldsSlot();
  const uint64_t bytes = DequantizeOutputBytes(*request);
  if (bytes > stream_share_) {
    call->Fail(ResourceExhaustedError("decoded output of " + std::to_string(bytes) + " bytes exceeds the " +
                                      std::to_string(stream_share_) +
                                      " bytes one call may hold (--max-stream-bytes)"));
    return call;
  }
  call->Run(bytes, [request, response]() -> Status {
    QUANTD_ASSIGN_OR_RETURN(*response, RunDequantize(*request));
    return OkStatus();
  });
  return call;
}

grpc::ServerUnaryReactor* QuantizerService::GetInfo(grpc::CallbackServerContext* context,
                                                    const quantd::v1::GetInfoRequest* request,
                                                    quantd::v1::GetInfoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status admitted = Admit(context, "GetInfo", /*takes_slot=*/false);
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
  response->set_max_stream_bytes(stream_share_);
  response->set_stream_idle_seconds(options_.stream_idle_seconds);
  response->set_max_calls(options_.max_calls);
  response->set_stream_window_bytes(options_.stream_window_bytes);
  for (const Method* m : AllMethods()) {
    for (const auto& [name, value] : m->limits()) {
      (*response->mutable_limits())[std::string(m->name()) + "." + name] = value;
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace quantd::server
