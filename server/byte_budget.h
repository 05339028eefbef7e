// File: byte_budget.h
//
// `ByteBudget`: the server's memory budget (--max-inflight-bytes) as an asynchronous counting
// semaphore. Streams take bytes before they hold a chunk or blob and give them back when done;
// a stream that cannot get its bytes stops reading (gRPC flow control then pushes back on the
// client) and resumes from a callback when bytes are released. Waiters are served in FIFO
// order so a large chunk is not starved by small ones. Thread-safe.
#ifndef QUANTD_SERVER_BYTE_BUDGET_H_
#define QUANTD_SERVER_BYTE_BUDGET_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace quantd::server {

class ByteBudget {
 public:
  explicit ByteBudget(uint64_t capacity) : capacity_(capacity) {}

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const;
  uint64_t peak() const;
  // Bytes asked for by queued requests.
  uint64_t waiting_bytes() const;

  // Takes `bytes` now and returns true, or queues the request and returns false; `on_granted`
  // then runs (on the thread that released enough bytes, with no lock held) once the bytes are
  // taken for the caller. REQUIRES: bytes <= capacity(). `*ticket` identifies a queued request.
  bool AcquireOrWait(uint64_t bytes, uint64_t* ticket, std::function<void()> on_granted);
  // Takes `bytes` only if available now.
  bool TryAcquire(uint64_t bytes);
  // Withdraws a queued request. Returns false when it was already granted (its callback has run
  // or is running, and the caller owns the bytes).
  bool CancelWait(uint64_t ticket);
  void Release(uint64_t bytes);

 private:
  struct Waiter {
    uint64_t ticket;
    uint64_t bytes;
    std::function<void()> on_granted;
  };
  const uint64_t capacity_;
  mutable std::mutex mu_;
  uint64_t in_use_ = 0;
  uint64_t peak_ = 0;
  uint64_t next_ticket_ = 1;
  std::deque<Waiter> waiters_;
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_BYTE_BUDGET_H_
