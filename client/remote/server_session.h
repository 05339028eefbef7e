// File: server_session.h
//
// `ServerSession`: one Quantize stream to one server. The calling thread writes: it keeps up to
// `window` chunks in flight, taking them from the Dispatcher, sends each (its Hessian blob first
// when this stream has not carried it, then the chunk split into parts of at most
// `max_message_bytes`), and breaks the stream when the oldest unanswered chunk is older than
// `chunk_timeout` (it waits for answers with that deadline, so no thread polls). A reader thread
// checks each answer against the chunk that was asked for and reports it. When the stream ends,
// its unanswered chunks go back to the queue and the way it ended is classified
// (ActionForStreamEnd). The session's own state is behind its own lock; it never holds that lock
// while calling the Dispatcher.
#ifndef QUANTD_CLIENT_REMOTE_SERVER_SESSION_H_
#define QUANTD_CLIENT_REMOTE_SERVER_SESSION_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
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
  bool Send(ChunkStream& stream, size_t task, uint64_t chunk_id);
  void ReadLoop(ChunkStream& stream);
  void Handle(size_t task, v1::QuantizeResponse& response);
  StatusOr<ChunkRecord> ToRecord(size_t task, v1::QuantizeResponse& response) const;
  void Wake();

  Dispatcher& dispatcher_;
  Transport& transport_;
  const size_t backend_;
  const std::string address_;
  const SessionOptions options_;
  const std::function<void()> wake_;
  std::set<std::string> uploaded_;  // Hessian blobs this stream has carried (writer thread only)

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::pair<size_t, Clock::time_point>> inflight_;  // chunk id -> (task, sent)
  bool reader_done_ = false;
  bool woken_ = false;
  std::string chunk_failure_;  // a retryable chunk error seen on this stream
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_SERVER_SESSION_H_
