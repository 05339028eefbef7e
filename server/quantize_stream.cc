#include "server/quantize_stream.h"

#include <exception>
#include <thread>

#include "proto/convert.h"
#include "server/chunk_runner.h"
#include "server/log.h"

namespace quantd::server {

QuantizeStream::QuantizeStream(QuantizerService* service, grpc::CallbackServerContext* context)
    : service_(service),
      context_(context),
      peer_(context->peer()),
      started_(std::chrono::steady_clock::now()),
      assembler_(service->stream_share()),
      last_progress_(started_) {}

void QuantizeStream::Start() {
  grpc::Status admitted = service_->Admit(context_, "Quantize", /*takes_slot=*/true);
  if (!admitted.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    Finish(admitted);
    return;
  }
  holds_slot_ = true;
  service_->AddStream(this);
  StartRead(&request_);
}

void QuantizeStream::Drain() {
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    MaybeFinishLocked(a);
  }
  Run(a);
}

bool QuantizeStream::ReadingLocked() const {
  return !reads_done_ && !cancelled_ && !draining_ && fatal_.ok() && !stalled_ && !share_wait_ && !finished_;
}

void QuantizeStream::Run(Actions& a) {
  QuantizerService* service = service_;
  if (a.release > 0) {
    service->budget().Release(a.release);
    service->PublishBudget();
  }
  if (a.resume_share && !a.finish) ResumeShareWait();
  if (a.start_read) StartRead(&request_);
  if (a.write != nullptr) StartWrite(a.write);
  if (a.finish) Finish(*a.finish);  // last: `this` may be gone once Finish returns
}

void QuantizeStream::OnReadDone(bool ok) {
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {
      reads_done_ = true;
      for (uint64_t id : assembler_.IncompleteChunks()) {
        QueueErrorLocked(id, "",
                         InvalidArgumentError("chunk " + std::to_string(id) +
                                              ": the stream ended before all of its bytes arrived"),
                         a);
      }
    } else if (!draining_ && !cancelled_ && !finished_) {
      last_progress_ = std::chrono::steady_clock::now();
      HandleMessageLocked(a);
    }
    MaybeFinishLocked(a);
  }
  Run(a);
}

void QuantizeStream::HandleMessageLocked(Actions& a) {
  bytes_in_ += request_.data().size() + (request_.has_blob() ? request_.blob().data().size() : 0);
  ChunkAssembler::Need need = assembler_.Inspect(request_);
  if (!need.stream_error.ok()) {
    fatal_ = need.stream_error;
    LogLine("stream " + peer_ + ": " + fatal_.ToString());
    return;
  }
  stalled_need_ = need;
  ReserveLocked(a);
}

void QuantizeStream::ReserveLocked(Actions& a) {
  const ChunkAssembler::Need& need = stalled_need_;
  if (need.bytes > 0) {
    // This stream's own share first: past it, reading stops until the stream's own chunks are
    // answered and their answers written (a client that does not read its answers stalls
    // itself, not the server).
    if (held_ + need.bytes > service_->stream_share()) {
      share_wait_ = true;
      return;
    }
    uint64_t ticket = 0;
    // Safe under mu_: AcquireOrWait never runs callbacks itself.
    if (!service_->budget().AcquireOrWait(need.bytes, &ticket, [this] { OnBudgetGranted(); })) {
      stalled_ = true;
      stall_ticket_ = ticket;
      return;  // no read until the bytes come
    }
    held_ += need.bytes;
    service_->PublishBudget();
  }
  AcceptLocked(need, a);
}

void QuantizeStream::ReleaseLocked(uint64_t bytes, Actions& a) {
  held_ -= std::min(bytes, held_);
  a.release += bytes;
  // The waiting message is reserved only after these bytes are back in the budget (Run), so
  // that the server's total never exceeds this stream's share, even for a moment.
  if (share_wait_) a.resume_share = true;
}

void QuantizeStream::ResumeShareWait() {
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (share_wait_ && !cancelled_ && !finished_ && !draining_ && fatal_.ok() &&
        held_ + stalled_need_.bytes <= service_->stream_share()) {
      share_wait_ = false;
      ReserveLocked(a);  // never finishes the stream; the caller's actions decide that
    }
  }
  Run(a);
}

void QuantizeStream::AcceptLocked(const ChunkAssembler::Need& need, Actions& a) {
  if (!need.chunk_error.ok()) {
    QueueErrorLocked(need.chunk_id, request_.tensor_name(), need.chunk_error, a);
  }
  ChunkAssembler::Result r = assembler_.Accept(std::move(request_), need);
  request_.Clear();
  stalled_need_ = {};
  if (r.released > 0) ReleaseLocked(r.released, a);
  if (r.complete) SubmitLocked(std::move(*r.complete));
  a.start_read = ReadingLocked();
}

void QuantizeStream::OnBudgetGranted() {
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stalled_ = false;
    if (cancelled_ || draining_ || finished_) {
      a.release += stalled_need_.bytes;  // nobody will use them now
      stalled_need_ = {};
    } else {
      held_ += stalled_need_.bytes;
      AcceptLocked(stalled_need_, a);
    }
    MaybeFinishLocked(a);
  }
  Run(a);
}

void QuantizeStream::SubmitLocked(ReceivedChunk chunk) {
  ++in_flight_;
  if (service_->metrics()) service_->metrics()->InflightChunks(1);
  const std::string* hessian = chunk.hessian_key.empty() ? nullptr : assembler_.Blob(chunk.hessian_key);
  const auto arrived = std::chrono::steady_clock::now();
  service_->pool().Submit(
      [this, chunk = std::move(chunk), hessian, arrived] { RunTask(chunk, hessian, arrived); });
}

void QuantizeStream::RunTask(const ReceivedChunk& chunk, const std::string* hessian,
                             std::chrono::steady_clock::time_point arrived) {
  bool skip;
  {
    std::lock_guard<std::mutex> lock(mu_);
    skip = cancelled_ || !fatal_.ok();
  }
  StatusOr<quantd::v1::QuantizeResponse> result = CancelledError("stream cancelled");
  const auto start = std::chrono::steady_clock::now();
  if (!skip) {
    if (service_->options().debug_chunk_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(service_->options().debug_chunk_delay_ms));
    }
    try {
      result = RunChunk(chunk, chunk.data, hessian, service_->gpu_allowed());
    } catch (const std::exception& e) {
      result = InternalError(std::string("chunk ") + std::to_string(chunk.chunk_id) + ": " + e.what());
    }
  }
  const auto end = std::chrono::steady_clock::now();
  Actions a;
  if (service_->metrics()) service_->metrics()->InflightChunks(-1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    last_progress_ = end;
    // The chunk's bytes stay reserved until its answer is written (QueueLocked), so answers a
    // client does not read count against the budget.
    if (skip || cancelled_) {
      ReleaseLocked(chunk.budget_bytes, a);
    } else {
      if (result.ok()) {
        auto* t = result->mutable_timings();
        t->set_queue_seconds(std::chrono::duration<double>(start - arrived).count());
        t->set_encode_seconds(std::chrono::duration<double>(end - start).count());
        result->set_server(service_->options().name);
        ++chunks_ok_;
        if (service_->metrics()) {
          uint64_t out = 0;
          for (const auto& s : result->encoding().sections()) out += s.data().size();
          service_->metrics()->Chunk(result->encoding().method(), chunk.budget_bytes, out,
                                     t->encode_seconds());
        }
        QueueLocked(std::move(*result), a, chunk.budget_bytes);
      } else {
        QueueErrorLocked(chunk.chunk_id, chunk.spec.tensor, result.status(), a, chunk.budget_bytes);
      }
    }
    MaybeFinishLocked(a);
  }
  Run(a);
}

void QuantizeStream::QueueErrorLocked(uint64_t chunk_id, const std::string& tensor, const Status& error,
                                      Actions& a, uint64_t bytes) {
  ++chunks_failed_;
  if (service_->metrics()) service_->metrics()->Error(std::string(StatusCodeName(error.code())));
  LogLine("stream " + peer_ + ": chunk " + std::to_string(chunk_id) + " failed: " + error.ToString());
  quantd::v1::QuantizeResponse r;
  r.set_chunk_id(chunk_id);
  r.set_tensor_name(tensor);
  r.set_server(service_->options().name);
  rpc::ToProto(error, r.mutable_error());
  QueueLocked(std::move(r), a, bytes);
}

void QuantizeStream::QueueLocked(quantd::v1::QuantizeResponse r, Actions& a, uint64_t bytes) {
  if (cancelled_) {
    ReleaseLocked(bytes, a);
    return;
  }
  queue_.push_back({std::move(r), bytes});
  MaybeWriteLocked(a);
}

void QuantizeStream::MaybeWriteLocked(Actions& a) {
  if (writing_ || queue_.empty() || cancelled_ || finished_) return;
  writing_msg_ = std::move(queue_.front().message);
  writing_bytes_ = queue_.front().bytes;
  queue_.pop_front();
  writing_ = true;
  a.write = &writing_msg_;
}

void QuantizeStream::OnWriteDone(bool ok) {
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (ok) last_progress_ = std::chrono::steady_clock::now();
    if (!ok) cancelled_ = true;  // the client is gone
    ReleaseLocked(writing_bytes_, a);
    writing_bytes_ = 0;
    MaybeWriteLocked(a);
    MaybeFinishLocked(a);
  }
  Run(a);
}

void QuantizeStream::OnCancel() {
  uint64_t ticket = 0;
  bool was_stalled;
  Actions unsent;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    for (const Outgoing& o : queue_) ReleaseLocked(o.bytes, unsent);
    queue_.clear();
    was_stalled = stalled_;
    ticket = stall_ticket_;
  }
  Run(unsent);
  // Outside mu_: withdrawing may grant other streams' waits, whose callbacks take their locks.
  const bool withdrawn = was_stalled && service_->budget().CancelWait(ticket);
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (withdrawn) stalled_ = false;  // the bytes were never granted
    MaybeFinishLocked(a);
  }
  Run(a);
}

void QuantizeStream::MaybeFinishLocked(Actions& a) {
  if (finished_ || writing_ || in_flight_ > 0 || stalled_) return;
  grpc::Status status;
  if (cancelled_) {
    status = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  } else if (!queue_.empty()) {
    return;  // answers still to send
  } else if (!fatal_.ok()) {
    status = rpc::ToGrpc(fatal_);
  } else if (draining_) {
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server is shutting down; resend unanswered chunks to another server");
  } else if (reads_done_) {
    status = grpc::Status::OK;
  } else {
    return;
  }
  finished_ = true;
  a.finish = status;
  a.release += held_;  // blobs and incomplete chunks: nothing else is left
  held_ = 0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  LogLine("stream " + peer_ + " ended " +
          std::string(StatusCodeName(static_cast<StatusCode>(status.error_code()))) + ": " +
          std::to_string(chunks_ok_) + " chunks, " + std::to_string(chunks_failed_) + " failed, " +
          std::to_string(bytes_in_) + " bytes in, " + std::to_string(secs) + " s");
}

void QuantizeStream::CheckIdle(std::chrono::steady_clock::time_point now,
                               std::chrono::steady_clock::duration idle) {
  bool cancel = false;
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Holding budget while neither reading nor being read from, and with nothing encoding: the
    // bytes would otherwise stay taken from every other client for as long as this one waits.
    if (finished_ || cancelled_ || held_ == 0 || in_flight_ > 0 || now - last_progress_ < idle ||
        !fatal_.ok())
      return;
    fatal_ = DeadlineExceededError(
        "stream held " + std::to_string(held_) + " bytes of the server's memory budget for " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - last_progress_).count()) +
        " s without sending or reading a message (--stream-idle-seconds); resend its chunks on a new stream");
    LogLine("stream " + peer_ + ": " + fatal_.ToString());
    cancel = writing_;  // a write the client does not read never completes: cancel it
    MaybeFinishLocked(a);
  }
  Run(a);
  if (cancel) context_->TryCancel();
}

void QuantizeStream::OnDone() {
  if (holds_slot_) service_->ReleaseCallSlot();
  service_->RemoveStream(this);
  delete this;
}

}  // namespace quantd::server
