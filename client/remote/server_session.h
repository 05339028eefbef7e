// File: server_session.h
//
// `ServerSession`: one Quantize stream to one server, on three threads:
//
// - the calling thread writes: it keeps up to `window` chunks in flight, taking them from the
//   Dispatcher, and sends each (its Hessian blob first when this stream has not carried it, then
//   the chunk split into parts of at most `max_message_bytes`);
// - a reader checks each answer against the chunk that was asked for and reports it;
// - a watchdog cancels the stream when the oldest unanswered chunk is older than `chunk_timeout`
//   or the run has ended elsewhere. It waits for exactly that deadline (no polling), and it is
//   what frees a writer blocked on a server that stopped reading.
//
// When the stream ends, its unanswered chunks go back to the queue and the way it ended is
// classified (ActionForStreamEnd). The session's own state is behind its own lock, which is never
// held while calling the Dispatcher.
#ifndef QUANTD_CLIENT_REMOTE_SERVER_SESSION_H_
#define QUANTD_CLIENT_REMOTE_SERVER_SESSION_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "client/remote/dispatcher.h"
#include "client/remote/transport.h"

namespace quantd::client {

struct SessionOptions {
  int window = 4;                         // chunks in flight
  uint64_t max_message_bytes = 4u << 20;  // largest message sent
  double chunk_timeout_seconds = 600;     // an answer later than this breaks the stream
};

class ServerSession {
 public:
  ServerSession(Dispatcher& dispatcher, Transport& transport, size_t backend, const SessionOptions& options);
  // Runs the stream until the run finishes, the stream breaks, or the queue is empty and every
  // chunk sent was answered; reports everything to the Dispatcher.
  void Run();

 private:
  using Clock = std::chrono::steady_clock;
  // Sends chunk `task` under `chunk_id`; false when the stream broke.
  bool Send(ChunkStream& stream, size_t task, uint64_t chunk_id);
  void ReadLoop(ChunkStream& stream);
  void WatchLoop(ChunkStream& stream);
  void Handle(size_t task, v1::QuantizeResponse& response);
  StatusOr<ChunkRecord> ToRecord(size_t task, v1::QuantizeResponse& response) const;
  void Wake(bool run_finished);
  // Cancels the stream once. REQUIRES: mu_ held.
  void CancelLocked(ChunkStream& stream);
  // Whether the writer should stop. REQUIRES: mu_ held.
  bool StopLocked() const { return reader_done_ || timed_out_ || run_finished_ || cancelled_; }

  Dispatcher& dispatcher_;
  Transport& transport_;
  const size_t backend_;
  const std::string address_;
  const SessionOptions options_;
  const std::function<void(bool)> wake_;
  std::set<std::string> uploaded_;  // Hessian blobs this stream has carried (writer thread only)

  std::mutex mu_;
  std::condition_variable cv_;                                         // every change below is notified
  std::map<uint64_t, std::pair<size_t, Clock::time_point>> inflight_;  // chunk id -> (task, sent)
  bool reader_done_ = false;                                           // the stream has ended
  bool woken_ = false;         // an answer arrived or the Dispatcher has news
  bool run_finished_ = false;  // the run ended (done or failed)
  bool timed_out_ = false;     // the watchdog cancelled for a late answer
  bool cancelled_ = false;
  std::string chunk_failure_;  // a retryable chunk error seen on this stream
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_SERVER_SESSION_H_
