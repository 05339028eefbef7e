// File: remote_executor.h
//
// `RemoteExecutor`: runs a job's chunks on quantd servers. Each backend (one server address)
// runs one ServerSession at a time, pulling chunks from the shared queue as its answers come
// back, so faster servers take more work.
//
// Failures: when a backend's stream breaks (connection refused or lost, server killed or
// draining, a chunk timing out), its unanswered chunks go back to the front of the queue for the
// other backends, and the backend is set aside with exponential backoff and tried again later.
// A chunk is tried at most `max_attempts` times. Chunk errors that retrying cannot fix
// (work_queue.h: ActionForChunkError) fail the job at once, naming the tensor, rows and server.
// The job also fails when every backend has failed `max_backend_failures` times in a row, with
// each server's last error in the message.
#ifndef QUANTD_CLIENT_REMOTE_REMOTE_EXECUTOR_H_
#define QUANTD_CLIENT_REMOTE_REMOTE_EXECUTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "client/job/executor.h"
#include "client/remote/server_session.h"
#include "client/remote/transport.h"
#include "client/remote/work_queue.h"

namespace quantd::client {

struct RemoteOptions {
  std::vector<std::string> servers;  // resolved addresses (server_list.h)
  SessionOptions session;
  WorkQueue::Options retry;
};

class RemoteExecutor final : public ChunkExecutor {
 public:
  RemoteExecutor(RemoteOptions options, std::unique_ptr<Transport> transport);
  Status RunAll(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done) override;

 private:
  RemoteOptions options_;
  std::unique_ptr<Transport> transport_;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_REMOTE_EXECUTOR_H_
