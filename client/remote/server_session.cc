#include "client/remote/server_session.h"

#include <algorithm>
#include <thread>

#include "proto/convert.h"

namespace quantd::client {

ServerSession::ServerSession(Dispatcher& dispatcher, Transport& transport, size_t backend,
                             const SessionOptions& options)
    : dispatcher_(dispatcher),
      transport_(transport),
      backend_(backend),
      address_(dispatcher.address(backend)),
      options_(options),
      wake_([this](bool run_finished) { Wake(run_finished); }) {}

void ServerSession::Wake(bool run_finished) {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  run_finished_ = run_finished_ || run_finished;
  cv_.notify_all();
}

void ServerSession::CancelLocked(ChunkStream& stream) {
  if (cancelled_) return;
  cancelled_ = true;
  stream.Cancel();
  cv_.notify_all();
}

void ServerSession::WatchLoop(ChunkStream& stream) {
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.chunk_timeout_seconds));
  std::unique_lock<std::mutex> lock(mu_);
  while (!reader_done_) {
    if (run_finished_) {
      CancelLocked(stream);  // the run is over: nothing this stream does matters now
    } else {
      auto oldest = Clock::time_point::max();
      for (const auto& [id, v] : inflight_) oldest = std::min(oldest, v.second);
      if (oldest != Clock::time_point::max() && Clock::now() >= oldest + timeout && !cancelled_) {
        timed_out_ = true;
        CancelLocked(stream);
        continue;
      }
      if (oldest != Clock::time_point::max() && !cancelled_) {
        cv_.wait_until(lock, oldest + timeout);
        continue;
      }
    }
    cv_.wait(lock);  // until a chunk is sent, the run ends or the stream ends
  }
}

void ServerSession::Run() {
  std::unique_ptr<ChunkStream> stream = transport_.Open(address_);
  dispatcher_.Subscribe(&wake_);
  std::thread reader([&] { ReadLoop(*stream); });
  std::thread watchdog([&] { WatchLoop(*stream); });
  bool broken = false;       // a write failed
  bool ended_early = false;  // the server ended the stream while this session still had work
  uint64_t next_id = 1;
  while (true) {
    bool room;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (StopLocked()) {
        ended_early = reader_done_ && !timed_out_ && !run_finished_ && !cancelled_;
        break;
      }
      // A server that answered a chunk with a transient error (busy, draining) gets no more
      // work on this stream: the session ends and the backend backs off.
      room = static_cast<int>(inflight_.size()) < options_.window && chunk_failure_.empty();
      woken_ = false;  // wake-ups from here on are not missed
    }
    const std::optional<size_t> task = room ? dispatcher_.Take() : std::nullopt;
    if (task) {
      const uint64_t id = next_id++;
      bool give_back;
      {
        std::lock_guard<std::mutex> lock(mu_);
        // What happened while the chunk was being taken may make sending it pointless.
        give_back = StopLocked() || !chunk_failure_.empty();
        if (!give_back) {
          inflight_[id] = {*task, Clock::now()};
          cv_.notify_all();  // the watchdog's deadline may have moved
        }
      }
      if (give_back) {
        dispatcher_.GiveBack(*task);
        continue;
      }
      if (!Send(*stream, *task, id)) {
        broken = true;
        break;
      }
      continue;
    }
    // Nothing to send now: wait for an answer or a wake-up.
    std::unique_lock<std::mutex> lock(mu_);
    // The queue is empty (or this stream takes no more) and every chunk sent was answered.
    if (inflight_.empty() && (!woken_ || !chunk_failure_.empty())) break;
    cv_.wait(lock, [&] { return woken_ || StopLocked(); });
  }
  {
    // A broken, late or abandoned stream is cancelled; otherwise the server answers what it has
    // and ends the stream after the half-close.
    std::lock_guard<std::mutex> lock(mu_);
    if (broken || timed_out_ || run_finished_) CancelLocked(*stream);
  }
  stream->WritesDone();
  reader.join();
  watchdog.join();
  dispatcher_.Unsubscribe(&wake_);
  const Status end = stream->Finish();

  std::vector<size_t> unanswered;
  std::string chunk_failure;
  bool timed_out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, v] : inflight_) unanswered.push_back(v.first);
    chunk_failure = chunk_failure_;
    timed_out = timed_out_;
  }
  if (dispatcher_.finished()) return;
  const bool failed =
      timed_out || broken || ended_early || !end.ok() || !unanswered.empty() || !chunk_failure.empty();
  if (!failed) return;
  std::string reason;
  if (timed_out) {
    reason = "a chunk got no answer within " + std::to_string(options_.chunk_timeout_seconds) + " s";
  } else if (!end.ok()) {
    reason = end.ToString();
  } else if (!chunk_failure.empty()) {
    reason = chunk_failure;
  } else if (ended_early) {
    reason = "the server ended the stream";
  } else {
    reason = "stream ended with chunks unanswered";
  }
  // The stream's own status says whether the request or configuration is wrong (a failed
  // write ends with the server's reason too); a stream this session cancelled says nothing.
  if (!timed_out && !end.ok() && ActionForStreamEnd(end.code()) == StreamEndAction::kFailJob) {
    dispatcher_.Fail(Status(end.code(), "server " + address_ + ": " + end.message()));
    return;
  }
  dispatcher_.RetryAll(unanswered, address_ + ": " + reason);
  dispatcher_.BackendFailed(backend_, reason);
}

bool ServerSession::Send(ChunkStream& stream, size_t task, uint64_t chunk_id) {
  const ChunkInput& c = dispatcher_.chunks()[task];
  const size_t part =
      static_cast<size_t>(std::max<uint64_t>(options_.max_message_bytes, 128 << 10) - (64 << 10));
  const Calibration* cal = c.calibration;
  // A Hessian is uploaded once per stream, keyed by its tensor, and referenced by every chunk.
  if (cal != nullptr && !cal->hessian.empty() && !uploaded_.count(c.spec.tensor)) {
    const char* bytes = reinterpret_cast<const char*>(cal->hessian.data());
    const size_t total = cal->hessian.size() * 4;
    for (size_t off = 0; off < total; off += part) {
      v1::QuantizeRequest m;
      auto* blob = m.mutable_blob();
      blob->set_key(c.spec.tensor);
      blob->set_total_bytes(total);
      blob->set_offset(off);
      blob->set_data(bytes + off, std::min(part, total - off));
      if (!stream.Write(m)) return false;
    }
    uploaded_.insert(c.spec.tensor);
  }
  // The chunk, in parts built one at a time so that only one part is copied at once.
  const size_t total = c.source.size();
  for (size_t off = 0; off < total || off == 0; off += part) {
    v1::QuantizeRequest m;
    m.set_chunk_id(chunk_id);
    if (off == 0) {
      rpc::ToRequestHeader(c.spec, dispatcher_.device(), &m);
      if (cal != nullptr) {
        for (float v : cal->column_max) m.add_column_max(v);
        if (!cal->hessian.empty()) m.set_hessian_key(c.spec.tensor);
      }
    }
    m.set_data_offset(off);
    m.set_data(reinterpret_cast<const char*>(c.source.data()) + off, std::min(part, total - off));
    if (!stream.Write(m)) return false;
    if (total == 0) break;
  }
  // The bytes are in gRPC's buffers now; a retry reads them from the file again.
  if (c.release) c.release(c.source);
  return true;
}

void ServerSession::ReadLoop(ChunkStream& stream) {
  v1::QuantizeResponse r;
  while (stream.Read(&r)) {
    size_t task = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = inflight_.find(r.chunk_id());
      if (it == inflight_.end()) continue;  // not asked on this stream: ignore it
      task = it->second.first;
      inflight_.erase(it);
      // Set before the window shows room, so that the writer sends nothing more to a server
      // that just said it cannot take work.
      if (r.has_error() &&
          ActionForChunkError(rpc::FromProto(r.error()).code()) == ChunkErrorAction::kRetryElsewhere) {
        chunk_failure_ = rpc::FromProto(r.error()).ToString();
      }
      woken_ = true;  // the window has room again
      cv_.notify_all();
    }
    Handle(task, r);
  }
  std::lock_guard<std::mutex> lock(mu_);
  reader_done_ = true;
  cv_.notify_all();  // the writer and the watchdog stop
}

void ServerSession::Handle(size_t task, v1::QuantizeResponse& r) {
  const ChunkSpec& spec = dispatcher_.chunks()[task].spec;
  if (r.has_error()) {
    const Status s = rpc::FromProto(r.error());
    if (ActionForChunkError(s.code()) == ChunkErrorAction::kRetryElsewhere) {
      dispatcher_.Retry(task, address_ + ": " + s.ToString());
    } else {
      dispatcher_.Fail(
          Status(s.code(), spec.Describe() + " failed on server " + address_ + ": " + s.message()));
    }
    return;
  }
  auto record = ToRecord(task, r);
  if (!record.ok()) {
    dispatcher_.Fail(record.status());
    return;
  }
  dispatcher_.Completed(task, backend_, std::move(*record));
}

StatusOr<ChunkRecord> ServerSession::ToRecord(size_t task, v1::QuantizeResponse& r) const {
  const ChunkSpec& spec = dispatcher_.chunks()[task].spec;
  auto enc = rpc::FromProto(r.encoding());
  if (!enc.ok()) return enc.status().WithContext("server " + address_ + " answered " + spec.Describe());
  // An answer for other rows, method, parameters or shape would corrupt the output (and break
  // determinism across servers): that server is wrong, and the run stops.
  if (enc->row_begin != spec.row_begin || enc->row_end != spec.row_end() || enc->method != spec.method ||
      !(enc->params == spec.params) || enc->shape != spec.shape || enc->source_dtype != spec.dtype) {
    return InternalError("server " + address_ + " answered " + spec.Describe() +
                         " with an encoding of something else");
  }
  ChunkRecord rec;
  rec.tensor = spec.tensor;
  rec.result.encoding = std::move(*enc);
  rec.result.error = rpc::SumsFromProto(r.metrics());
  rec.result.device = rpc::DeviceFromLabel(r.device());
  rec.provenance.worker = address_;
  rec.provenance.seconds = r.timings().encode_seconds();
  rec.provenance.retries = dispatcher_.attempts(task);
  return rec;
}

}  // namespace quantd::client
