#include "client/remote/dispatcher.h"

namespace quantd::client {

Dispatcher::Dispatcher(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done,
                       std::vector<std::string> backends, WorkQueue::Options options)
    : chunks_(chunks),
      device_(device),
      on_done_(on_done),
      backends_(backends),
      queue_(chunks.size(), std::move(backends), options) {}

void Dispatcher::Subscribe(const std::function<void(bool)>* wake) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.insert(wake);
}

void Dispatcher::Unsubscribe(const std::function<void(bool)>* wake) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(wake);
}

void Dispatcher::WakeAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Under mu_: a session cannot unsubscribe (and be destroyed) while it is woken.
    const bool finished = queue_.finished();
    for (const auto* wake : sessions_) (*wake)(finished);
  }
  work_.notify_all();
}

std::optional<size_t> Dispatcher::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.Take();
}

bool Dispatcher::WaitForWork(size_t backend) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (queue_.finished()) return false;
    const auto ready = queue_.ready_at(backend);
    if (WorkQueue::Clock::now() < ready) {
      work_.wait_until(lock, ready);
      continue;
    }
    if (queue_.has_pending()) return true;
    work_.wait(lock);
  }
}

void Dispatcher::Completed(size_t task, size_t backend, ChunkRecord&& record) {
  Status s;
  {
    std::lock_guard<std::mutex> done_lock(done_mu_);
    if (finished()) return;
    s = on_done_(task, std::move(record));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (s.ok()) {
      queue_.Completed(task, backend);
    } else {
      queue_.Fail(s);
    }
  }
  if (!s.ok() || finished()) WakeAll();
}

void Dispatcher::GiveBack(size_t task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.GiveBack(task);
  }
  WakeAll();
}

void Dispatcher::Retry(size_t task, const std::string& reason) { RetryAll({task}, reason); }

void Dispatcher::RetryAll(const std::vector<size_t>& tasks, const std::string& reason) {
  if (tasks.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t t : tasks) queue_.Retry(t, chunks_[t].spec.Describe() + " on " + reason);
  }
  WakeAll();
}

void Dispatcher::Fail(Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Fail(std::move(status));
  }
  WakeAll();
}

void Dispatcher::BackendFailed(size_t backend, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.BackendFailed(backend, reason, WorkQueue::Clock::now());
  }
  WakeAll();
}

bool Dispatcher::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.finished();
}

int Dispatcher::attempts(size_t task) const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.attempts(task);
}

Status Dispatcher::Result() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!queue_.failure().ok()) return queue_.failure();
  if (queue_.done() != queue_.tasks()) return InternalError("remote execution ended with unfinished chunks");
  return OkStatus();
}

}  // namespace quantd::client
