#include "remote_executor.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "proto_convert.h"
#include "quantd/v1/quantizer.grpc.pb.h"

namespace quantd::client {
namespace {

using Clock = std::chrono::steady_clock;
using quantd::v1::QuantizeRequest;
using quantd::v1::QuantizeResponse;

std::string Describe(const ChunkTask& t) {
  return "tensor '" + t.tensor->name() + "' rows " + std::to_string(t.rows.row_begin) + ".." +
         std::to_string(t.rows.row_end);
}

// Errors a retry elsewhere may cure.
bool Retryable(StatusCode c) {
  return c == StatusCode::kUnavailable || c == StatusCode::kCancelled || c == StatusCode::kResourceExhausted ||
         c == StatusCode::kDeadlineExceeded || c == StatusCode::kAborted || c == StatusCode::kInternal ||
         c == StatusCode::kUnknown;
}

struct Backend {
  std::string address;
  std::unique_ptr<quantd::v1::Quantizer::Stub> stub;
  int consecutive_failures = 0;
  std::string last_error;
  Clock::time_point retry_at{};
};

// One RunAll: the shared queue and the backends' threads.
class Job {
 public:
  Job(const RemoteOptions& o, std::span<const ChunkTask> tasks,
      const std::function<Status(size_t, ChunkOutcome&&)>& on_done)
      : o_(o), tasks_(tasks), on_done_(on_done), attempts_(tasks.size(), 0) {
    for (size_t i = 0; i < tasks.size(); ++i) pending_.push_back(i);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
    for (const std::string& a : o.servers) {
      auto b = std::make_unique<Backend>();
      b->address = a;
      b->stub = quantd::v1::Quantizer::NewStub(grpc::CreateCustomChannel(a, o.credentials, args));
      backends_.push_back(std::move(b));
    }
  }

  Status Run() {
    if (tasks_.empty()) return OkStatus();
    std::vector<std::thread> threads;
    for (auto& b : backends_) threads.emplace_back([this, &b] { BackendLoop(*b); });
    for (auto& t : threads) t.join();
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.ok()) return failure_;
    if (done_ != tasks_.size()) return InternalError("remote execution ended with unfinished chunks");
    return OkStatus();
  }

 private:
  bool FinishedLocked() const { return !failure_.ok() || done_ == tasks_.size(); }

  void FailLocked(Status s) {
    if (failure_.ok()) failure_ = std::move(s);
    cv_.notify_all();
  }

  double BackoffSeconds(int failures) const {
    double s = o_.backoff_initial_seconds;
    for (int i = 1; i < failures && s < o_.backoff_max_seconds; ++i) s *= 2;
    return std::min(s, o_.backoff_max_seconds);
  }

  // Every backend and its last error, for failure messages.
  std::string ServersLocked() const {
    std::string s;
    for (const auto& b : backends_) {
      s += " [" + b->address + ": " + (b->last_error.empty() ? std::string("no error") : b->last_error) + "]";
    }
    return s;
  }

  // After a backend failed: is there any backend left that may still make progress?
  void CheckProgressLocked() {
    for (const auto& b : backends_) {
      if (b->consecutive_failures < o_.max_backend_failures) return;
    }
    FailLocked(UnavailableError("no quantd server could make progress:" + ServersLocked()));
  }

  // Puts an unanswered chunk back for another try.
  void RequeueLocked(size_t task, const std::string& reason) {
    if (++attempts_[task] >= o_.max_attempts) {
      FailLocked(UnavailableError("no quantd server could make progress: " + Describe(tasks_[task]) + " failed " +
                                  std::to_string(attempts_[task]) + " times, last on " + reason + "; servers:" +
                                  ServersLocked()));
      return;
    }
    pending_.push_front(task);
    cv_.notify_all();
  }

  void BackendLoop(Backend& b) {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_until(lock, b.retry_at, [&] { return FinishedLocked(); });
        cv_.wait(lock, [&] { return FinishedLocked() || !pending_.empty(); });
        if (FinishedLocked()) return;
      }
      RunSession(b);
    }
  }

  // Sends chunk `i`: its Hessian blob when this stream has not seen it, then the chunk, split into
  // parts of at most max_message_bytes, built one at a time so that only one part is copied at
  // once. Returns false when the stream broke.
  bool Send(grpc::ClientReaderWriter<QuantizeRequest, QuantizeResponse>& stream, size_t i, uint64_t chunk_id,
            std::set<std::string>& uploaded) const {
    const ChunkTask& t = tasks_[i];
    const TensorPlan& p = *t.tensor;
    const size_t part = static_cast<size_t>(std::max<uint64_t>(o_.max_message_bytes, 128 << 10) - (64 << 10));
    const Calibration* cal = p.calibration.get();
    if (cal && !cal->hessian.empty() && !uploaded.count(p.name())) {
      const char* bytes = reinterpret_cast<const char*>(cal->hessian.data());
      const size_t total = cal->hessian.size() * 4;
      for (size_t off = 0; off < total; off += part) {
        QuantizeRequest m;
        auto* blob = m.mutable_blob();
        blob->set_key(p.name());
        blob->set_total_bytes(total);
        blob->set_offset(off);
        blob->set_data(bytes + off, std::min(part, total - off));
        if (!stream.Write(m)) return false;
      }
      uploaded.insert(p.name());
    }
    const size_t total = t.source.size();
    for (size_t off = 0; off < total || off == 0; off += part) {
      QuantizeRequest m;
      m.set_chunk_id(chunk_id);
      if (off == 0) {
        m.set_tensor_name(p.name());
        for (int64_t d : p.entry->info->shape) m.add_shape(d);
        m.set_dtype(proto::ToProto(p.entry->info->dtype));
        m.set_row_begin(t.rows.row_begin);
        m.set_row_count(t.rows.row_end - t.rows.row_begin);
        proto::ToProto(p.method, p.params, m.mutable_params());
        m.set_device(p.device == Device::kCpu    ? quantd::v1::DEVICE_CPU
                     : p.device == Device::kCuda ? quantd::v1::DEVICE_CUDA
                                                 : quantd::v1::DEVICE_AUTO);
        if (cal) {
          for (float v : cal->column_max) m.add_column_max(v);
          if (!cal->hessian.empty()) m.set_hessian_key(p.name());
        }
      }
      m.set_data_offset(off);
      m.set_data(reinterpret_cast<const char*>(t.source.data()) + off, std::min(part, total - off));
      if (!stream.Write(m)) return false;
      if (total == 0) break;
    }
    // The bytes are in gRPC's buffers now; a retry reads them from the file again.
    p.entry->file->ReleasePages(t.source);
    return true;
  }

  // Checks that a response is the encoding of the chunk that was asked for.
  StatusOr<ChunkOutcome> Outcome(size_t i, QuantizeResponse& r, const Backend& b) const {
    const ChunkTask& t = tasks_[i];
    auto enc = proto::FromProto(r.encoding());
    if (!enc.ok()) return enc.status().WithContext("server " + b.address + " answered " + Describe(t));
    if (enc->row_begin != t.rows.row_begin || enc->row_end != t.rows.row_end || enc->method != t.tensor->method ||
        !(enc->params == t.tensor->params) || enc->shape != t.tensor->entry->info->shape) {
      return InternalError("server " + b.address + " answered " + Describe(t) + " with an encoding of something else");
    }
    ChunkOutcome o;
    o.result.encoding = std::move(*enc);
    o.result.error = proto::SumsFromProto(r.metrics());
    o.worker = b.address;
    o.seconds = r.timings().encode_seconds();
    o.retries = attempts_[i];
    return o;
  }

  void RunSession(Backend& b) {
    grpc::ClientContext ctx;
    if (!o_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o_.token);
    auto stream = b.stub->Quantize(&ctx);
    std::map<uint64_t, std::pair<size_t, Clock::time_point>> inflight;  // chunk id -> (task, sent)
    bool broken = false;      // guarded by mu_
    bool reader_done = false; // guarded by mu_
    std::string chunk_failure;  // a retryable per-chunk error seen on this stream
    uint64_t next_id = 1;
    std::set<std::string> uploaded;

    std::thread reader([&] {
      QuantizeResponse r;
      while (stream->Read(&r)) {
        std::unique_lock<std::mutex> lock(mu_);
        auto it = inflight.find(r.chunk_id());
        if (it == inflight.end()) continue;  // not ours (cannot happen with a correct server)
        const size_t task = it->second.first;
        inflight.erase(it);
        if (r.has_error()) {
          Status s = proto::FromProto(r.error());
          if (Retryable(s.code())) {
            chunk_failure = s.ToString();
            RequeueLocked(task, b.address + ": " + s.ToString());
          } else {
            FailLocked(Status(s.code(), Describe(tasks_[task]) + " failed on server " + b.address + ": " + s.message()));
          }
          cv_.notify_all();
          continue;
        }
        auto outcome = Outcome(task, r, b);
        if (!outcome.ok()) {
          RequeueLocked(task, outcome.status().ToString());
          cv_.notify_all();
          continue;
        }
        lock.unlock();
        Status s;
        {
          std::lock_guard<std::mutex> done_lock(done_mu_);
          s = on_done_(task, std::move(*outcome));
        }
        lock.lock();
        if (!s.ok()) {
          FailLocked(s);
        } else {
          ++done_;
          b.consecutive_failures = 0;
        }
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu_);
      reader_done = true;
      cv_.notify_all();
    });

    // Watchdog: a chunk unanswered for too long (a hung server) breaks the stream; cancelling also
    // unblocks a Write stuck on a server that stopped reading.
    bool writer_done = false;  // guarded by mu_
    std::thread watchdog([&] {
      const auto timeout =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.chunk_timeout_seconds));
      std::unique_lock<std::mutex> lock(mu_);
      while (!(writer_done && reader_done)) {
        cv_.wait_for(lock, std::chrono::milliseconds(250));
        auto oldest = Clock::time_point::max();
        for (const auto& [cid, v] : inflight) oldest = std::min(oldest, v.second);
        if (!broken && oldest != Clock::time_point::max() && Clock::now() - oldest > timeout) {
          chunk_failure = "a chunk got no answer within " + std::to_string(o_.chunk_timeout_seconds) + " s";
          broken = true;
          ctx.TryCancel();
          cv_.notify_all();
        }
      }
    });

    // Writer: keep up to `window` chunks in flight; stop when the job is over, the stream broke,
    // or nothing is left for this backend (queue empty and all of ours answered).
    while (true) {
      size_t task = 0;
      uint64_t id = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        auto ready = [&] {
          return FinishedLocked() || reader_done || broken || (pending_.empty() && inflight.empty()) ||
                 (static_cast<int>(inflight.size()) < o_.window && !pending_.empty());
        };
        cv_.wait(lock, ready);
        if (FinishedLocked() || reader_done || broken || pending_.empty()) {
          if (broken || !failure_.ok()) ctx.TryCancel();
          break;
        }
        task = pending_.front();
        pending_.pop_front();
        id = next_id++;
        inflight[id] = {task, Clock::now()};
      }
      if (!Send(*stream, task, id, uploaded)) {
        std::lock_guard<std::mutex> lock(mu_);
        broken = true;
        break;
      }
    }
    stream->WritesDone();
    {
      std::lock_guard<std::mutex> lock(mu_);
      writer_done = true;
    }
    reader.join();
    watchdog.join();
    grpc::Status status = stream->Finish();

    std::lock_guard<std::mutex> lock(mu_);
    const bool failed = !status.ok() || !inflight.empty() || !chunk_failure.empty();
    std::string reason = !status.ok() ? std::string(StatusCodeName(static_cast<StatusCode>(status.error_code()))) + ": " +
                                            status.error_message()
                                      : (!chunk_failure.empty() ? chunk_failure : "stream ended with chunks unanswered");
    if (failed) b.last_error = reason;
    for (const auto& [cid, v] : inflight) RequeueLocked(v.first, b.address + ": " + reason);
    if (failed && failure_.ok()) {
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED || status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        FailLocked(Status(static_cast<StatusCode>(status.error_code()), "server " + b.address + ": " + status.error_message()));
        return;
      }
      ++b.consecutive_failures;
      b.last_error = reason;
      b.retry_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(BackoffSeconds(b.consecutive_failures)));
      CheckProgressLocked();
    }
    cv_.notify_all();
  }

  const RemoteOptions& o_;
  std::span<const ChunkTask> tasks_;
  const std::function<Status(size_t, ChunkOutcome&&)>& on_done_;
  std::mutex mu_;
  std::mutex done_mu_;  // serializes on_done_
  std::condition_variable cv_;
  std::deque<size_t> pending_;
  std::vector<int> attempts_;
  size_t done_ = 0;
  Status failure_;
  std::vector<std::unique_ptr<Backend>> backends_;
};

}  // namespace

RemoteExecutor::RemoteExecutor(RemoteOptions options) : options_(std::move(options)) {}

Status RemoteExecutor::RunAll(std::span<const ChunkTask> tasks,
                              const std::function<Status(size_t, ChunkOutcome&&)>& on_done) {
  if (options_.servers.empty()) return InvalidArgumentError("no servers");
  Job job(options_, tasks, on_done);
  return job.Run();
}

}  // namespace quantd::client
