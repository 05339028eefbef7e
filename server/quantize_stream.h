// File: quantize_stream.h
//
// `QuantizeStream`: the reactor of one Quantize stream. It reads messages one at a time,
// reassembles chunks (ChunkAssembler), reserves their bytes from the server's budget (pausing
// reads when the budget is full), runs complete chunks on the WorkPool, and writes responses one
// at a time as they finish, in completion order.
//
// Invariants (all state under mu_): at most one read and one write outstanding; Finish is called
// once, only when no chunk task is running and no budget request is pending, so tasks and budget
// callbacks may use `this` freely; reactor operations (StartRead/StartWrite/Finish) and budget
// releases happen outside mu_, never inside it.
#ifndef QUANTD_SERVER_QUANTIZE_STREAM_H_
#define QUANTD_SERVER_QUANTIZE_STREAM_H_

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "quantd/v1/quantizer.grpc.pb.h"
#include "server/chunk_assembler.h"
#include "server/quantizer_service.h"

namespace quantd::server {

class QuantizeStream final
    : public grpc::ServerBidiReactor<quantd::v1::QuantizeRequest, quantd::v1::QuantizeResponse> {
 public:
  QuantizeStream(QuantizerService* service, grpc::CallbackServerContext* context);
  // Admits the stream (auth, draining) and starts reading, or finishes it with the error.
  void Start();
  // Stops reading; in-flight chunks finish and are answered; then the stream ends UNAVAILABLE.
  void Drain();

  // Ends the stream (DEADLINE_EXCEEDED) when it holds budget bytes and has made no progress (no
  // message read or written, nothing encoding) for `idle`. Called by the service's reaper.
  void CheckIdle(std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration idle);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What to do once mu_ is released.
  struct Actions {
    uint64_t release = 0;
    bool resume_share = false;  // after the release: retry a message waiting on this stream's share
    bool start_read = false;
    quantd::v1::QuantizeResponse* write = nullptr;
    std::optional<grpc::Status> finish;
  };
  void Run(Actions& a);
  void HandleMessageLocked(Actions& a);
  // Reserves stalled_need_'s bytes (this stream's share, then the server's budget) and accepts
  // the message, or leaves the stream waiting for either.
  void ReserveLocked(Actions& a);
  // Gives back bytes this stream held (in Run), then resumes a wait on its share.
  void ReleaseLocked(uint64_t bytes, Actions& a);
  void ResumeShareWait();
  void AcceptLocked(const ChunkAssembler::Need& need, Actions& a);
  void OnBudgetGranted();
  void SubmitLocked(ReceivedChunk chunk);
  void RunTask(const ReceivedChunk& chunk, const std::string* hessian,
               std::chrono::steady_clock::time_point arrived);
  // `bytes`: budget the answer holds until it is written (its chunk's).
  void QueueErrorLocked(uint64_t chunk_id, const std::string& tensor, const Status& error, Actions& a,
                        uint64_t bytes = 0);
  void QueueLocked(quantd::v1::QuantizeResponse r, Actions& a, uint64_t bytes);
  void MaybeWriteLocked(Actions& a);
  void MaybeFinishLocked(Actions& a);
  bool ReadingLocked() const;

  QuantizerService* const service_;
  grpc::CallbackServerContext* const context_;
  const std::string peer_;
  const std::chrono::steady_clock::time_point started_;

  std::mutex mu_;
  quantd::v1::QuantizeRequest request_;  // the read buffer
  ChunkAssembler assembler_;
  bool stalled_ = false;  // waiting for budget bytes for request_
  ChunkAssembler::Need stalled_need_;
  uint64_t stall_ticket_ = 0;
  struct Outgoing {
    quantd::v1::QuantizeResponse message;
    uint64_t bytes = 0;  // budget held until written
  };
  std::deque<Outgoing> queue_;
  quantd::v1::QuantizeResponse writing_msg_;
  uint64_t writing_bytes_ = 0;
  bool writing_ = false;
  uint64_t held_ = 0;        // budget bytes this stream holds (chunks, blobs, unsent answers)
  bool share_wait_ = false;  // the next message would take this stream past its share
  std::chrono::steady_clock::time_point last_progress_;
  int in_flight_ = 0;
  bool reads_done_ = false;
  bool cancelled_ = false;
  bool draining_ = false;
  bool finished_ = false;
  bool holds_slot_ = false;  // admitted: OnDone gives the call slot back (--max-calls)
  Status fatal_;
  int64_t chunks_ok_ = 0;
  int64_t chunks_failed_ = 0;
  uint64_t bytes_in_ = 0;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_QUANTIZE_STREAM_H_
