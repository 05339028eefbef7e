#include "client/remote/work_queue.h"

#include <algorithm>

namespace quantd::client {

WorkQueue::WorkQueue(size_t tasks, std::vector<std::string> backends, Options options)
    : options_(options), attempts_(tasks, 0) {
  for (size_t i = 0; i < tasks; ++i) pending_.push_back(i);
  for (std::string& a : backends) {
    Backend b;
    b.address = std::move(a);
    backends_.push_back(std::move(b));
  }
}

std::optional<size_t> WorkQueue::Take() {
  if (finished() || pending_.empty()) return std::nullopt;
  const size_t task = pending_.front();
  pending_.pop_front();
  return task;
}

void WorkQueue::Completed(size_t task, size_t backend) {
  ++done_;
  backends_[backend].consecutive_failures = 0;
}

void WorkQueue::Retry(size_t task, const std::string& reason) {
  if (!failure_.ok()) return;
  if (++attempts_[task] >= options_.max_attempts) {
    Fail(UnavailableError("no quantd server could make progress: " + reason + " (try " +
                          std::to_string(attempts_[task]) + " of " + std::to_string(options_.max_attempts) +
                          "); servers:" + DescribeBackends()));
    return;
  }
  pending_.push_front(task);
}

void WorkQueue::GiveBack(size_t task) { pending_.push_front(task); }

void WorkQueue::Fail(Status status) {
  if (failure_.ok() && !status.ok()) failure_ = std::move(status);
}

double WorkQueue::BackoffSeconds(int failures) const {
  double s = options_.backoff_initial_seconds;
  for (int i = 1; i < failures && s < options_.backoff_max_seconds; ++i) s *= 2;
  return std::min(s, options_.backoff_max_seconds);
}

void WorkQueue::BackendFailed(size_t backend, const std::string& reason, Clock::time_point now) {
  Backend& b = backends_[backend];
  ++b.consecutive_failures;
  b.last_error = reason;
  b.ready_at = now + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(BackoffSeconds(b.consecutive_failures)));
  for (const Backend& other : backends_) {
    if (other.consecutive_failures < options_.max_backend_failures) return;
  }
  Fail(UnavailableError("no quantd server could make progress:" + DescribeBackends()));
}

std::string WorkQueue::DescribeBackends() const {
  std::string s;
  for (const Backend& b : backends_) {
    s += " [" + b.address + ": " + (b.last_error.empty() ? std::string("no error") : b.last_error) + "]";
  }
  return s;
}

ChunkErrorAction ActionForChunkError(StatusCode code) {
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kAborted:
    case StatusCode::kCancelled:
      return ChunkErrorAction::kRetryElsewhere;
    default:
      return ChunkErrorAction::kFailJob;
  }
}

StreamEndAction ActionForStreamEnd(StatusCode code) {
  switch (code) {
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented:
      return StreamEndAction::kFailJob;
    default:
      return StreamEndAction::kBackendFailed;
  }
}

}  // namespace quantd::client
