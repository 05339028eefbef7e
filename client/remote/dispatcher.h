// File: dispatcher.h
//
// `Dispatcher`: what the sessions of one remote run share, behind one small lock: the
// WorkQueue, the chunks, and the sink for finished records. Sessions take chunks from it and
// report each chunk's fate; it wakes every session when work comes back to the queue or the
// run ends, and idle backends wait on it for work. Finished records go to the sink one at a
// time under a lock of their own, so a slow sink (the journal's disk) never holds up dispatch.
#ifndef QUANTD_CLIENT_REMOTE_DISPATCHER_H_
#define QUANTD_CLIENT_REMOTE_DISPATCHER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "client/job/executor.h"
#include "client/remote/work_queue.h"

namespace quantd::client {

class Dispatcher {
 public:
  Dispatcher(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done,
             std::vector<std::string> backends, WorkQueue::Options options);

  std::span<const ChunkInput> chunks() const { return chunks_; }
  Device device() const { return device_; }
  const std::string& address(size_t backend) const { return backends_[backend]; }
  size_t backends() const { return backends_.size(); }

  // Sessions register to be woken (`wake(run_finished)` must not block and must not call back
  // in); they are woken whenever work comes back to the queue or the run fails or ends.
  void Subscribe(const std::function<void(bool)>* wake);
  void Unsubscribe(const std::function<void(bool)>* wake);

  // The next chunk, or none (queue empty or run finished). Never blocks.
  std::optional<size_t> Take();
  // Blocks until `backend` may run a session: true when there is pending work and its backoff
  // has passed, false when the run is finished.
  bool WaitForWork(size_t backend);

  // A chunk's record arrived from `backend`: handed to the sink; its error fails the run.
  void Completed(size_t task, size_t backend, ChunkRecord&& record);
  // Taken but not sent: back to the front, no attempt counted.
  void GiveBack(size_t task);
  // Back to the queue for another try (counts an attempt).
  void Retry(size_t task, const std::string& reason);
  // Several at once (a broken stream's unanswered chunks).
  void RetryAll(const std::vector<size_t>& tasks, const std::string& reason);
  void Fail(Status status);
  void BackendFailed(size_t backend, const std::string& reason);

  bool finished() const;
  int attempts(size_t task) const;
  // The run's outcome once every backend has stopped.
  Status Result() const;

 private:
  // Wakes sessions and idle backends. REQUIRES: mu_ not held.
  void WakeAll();

  const std::span<const ChunkInput> chunks_;
  const Device device_;
  const ChunkDone& on_done_;
  const std::vector<std::string> backends_;
  mutable std::mutex mu_;
  std::condition_variable work_;  // idle backends wait here
  WorkQueue queue_;
  std::set<const std::function<void(bool)>*> sessions_;
  std::mutex done_mu_;  // serializes on_done_
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_DISPATCHER_H_
