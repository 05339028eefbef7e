// File: work_queue.h
//
// `WorkQueue`: the bookkeeping of a remote run, with no threads, clocks or I/O of its own (the
// caller passes the time and holds a lock), so every rule is unit-tested directly:
//
// - pending chunks, taken from the front; a chunk given back for another try goes to the front
//   again, so retries are not starved behind the rest of the model;
// - attempts per chunk: a chunk tried `max_attempts` times fails the job;
// - per backend: consecutive failures and exponential backoff (a failed backend is not offered
//   work before its retry time); the job fails when every backend has failed
//   `max_backend_failures` times in a row (the failure budget).
//
// What counts as a retry is decided from status-code semantics by the two functions at the end.
#ifndef QUANTD_CLIENT_REMOTE_WORK_QUEUE_H_
#define QUANTD_CLIENT_REMOTE_WORK_QUEUE_H_

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "quantd/core/status.h"

namespace quantd::client {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    int max_attempts = 5;          // tries per chunk
    int max_backend_failures = 3;  // consecutive failures of every backend that end the job
    double backoff_initial_seconds = 0.25;
    double backoff_max_seconds = 10;
  };

  // `tasks` chunks, all pending, over `backends` (their addresses, for messages).
  WorkQueue(size_t tasks, std::vector<std::string> backends, Options options);

  // True once every chunk is done or the job failed.
  bool finished() const { return !failure_.ok() || done_ == attempts_.size(); }
  // The job's failure (OK while it has not failed).
  const Status& failure() const { return failure_; }
  size_t done() const { return done_; }
  bool has_pending() const { return !pending_.empty(); }
  size_t tasks() const { return attempts_.size(); }
  // Tries of `task` that failed so far.
  int attempts(size_t task) const { return attempts_[task]; }
  // When `backend` may be offered work again (the past when it is not backing off).
  Clock::time_point ready_at(size_t backend) const { return backends_[backend].ready_at; }

  // The next pending chunk, or none.
  std::optional<size_t> Take();
  // `task` finished on `backend`, whose failure count restarts.
  void Completed(size_t task, size_t backend);
  // `task` was not answered, or failed in a way another server may cure (`reason` names the
  // chunk, the server and the error):
  // it counts an attempt and goes back to the front; after max_attempts the job fails.
  void Retry(size_t task, const std::string& reason);
  // `task` was taken but never sent: back to the front, no attempt counted.
  void GiveBack(size_t task);
  // The job fails with `status` (the first failure is kept).
  void Fail(Status status);
  // `backend`'s stream broke: it backs off (initial delay doubling per consecutive failure, up
  // to the maximum) and the job fails when no backend is left within the failure budget.
  void BackendFailed(size_t backend, const std::string& reason, Clock::time_point now);

  // Every backend with its last error, for messages: " [addr: error] [addr: no error]".
  std::string DescribeBackends() const;

 private:
  struct Backend {
    std::string address;
    int consecutive_failures = 0;
    std::string last_error;
    Clock::time_point ready_at{};
  };
  double BackoffSeconds(int failures) const;

  Options options_;
  std::deque<size_t> pending_;
  std::vector<int> attempts_;
  std::vector<Backend> backends_;
  size_t done_ = 0;
  Status failure_;
};

// What a chunk's own error (a QuantizeResponse with `error` set) means for the job:
// UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED and CANCELLED are about that
// server at that moment, so the chunk is retried elsewhere; every other code (INVALID_ARGUMENT,
// FAILED_PRECONDITION, INTERNAL, UNKNOWN, ...) would recur for the same bytes on any server, so
// the job fails at once with the server's message.
enum class ChunkErrorAction { kRetryElsewhere, kFailJob };
ChunkErrorAction ActionForChunkError(StatusCode code);

// What a stream's own end (its final status, with chunks unanswered) means: UNAUTHENTICATED,
// PERMISSION_DENIED, INVALID_ARGUMENT, FAILED_PRECONDITION and UNIMPLEMENTED mean the request
// or configuration is wrong, and the job fails; anything else (UNAVAILABLE, a cancelled or
// reset stream, INTERNAL from a broken connection) is the server's or the network's, and the
// backend backs off while its chunks go elsewhere.
enum class StreamEndAction { kBackendFailed, kFailJob };
StreamEndAction ActionForStreamEnd(StatusCode code);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_WORK_QUEUE_H_
