// File: remote_executor.h
//
// `RemoteExecutor`: runs a job's chunks on quantd servers. Each backend (one server address)
// keeps one Quantize stream open with at most `window` chunks in flight and pulls the next chunk
// from a shared queue whenever one of its chunks is answered, so faster servers take more work.
//
// Failures: when a backend's stream breaks (connection refused or lost, server killed or
// draining, a chunk timing out), its unanswered chunks go back to the front of the queue for the
// other backends, and the backend is set aside with exponential backoff and probed again later.
// A chunk is tried at most `max_attempts` times. Chunk errors that retrying cannot fix
// (INVALID_ARGUMENT and the like) fail the job at once, naming the tensor, rows and server. The
// job also fails when every backend has failed `max_backend_failures` times in a row, with each
// server's last error in the message.
#ifndef QUANTD_CLIENT_REMOTE_EXECUTOR_H_
#define QUANTD_CLIENT_REMOTE_EXECUTOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "chunk_executor.h"

namespace quantd::client {

struct RemoteOptions {
  std::vector<std::string> servers;  // resolved addresses (server_list.h)
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  std::string token;                 // sent as "authorization: Bearer <token>" when set
  // With TLS: the name the servers' certificates must carry, instead of the address dialled
  // (dns:/// resolves to pod IPs, which a shared certificate does not name).
  std::string tls_server_name;
  int window = 4;                    // chunks in flight per backend
  int max_attempts = 5;              // tries per chunk
  int max_backend_failures = 3;      // consecutive failures of every backend that end the job
  uint64_t max_message_bytes = 4u << 20;  // largest message sent; bigger chunks are split
  double chunk_timeout_seconds = 600;     // a chunk unanswered this long breaks its stream
  double backoff_initial_seconds = 0.25;
  double backoff_max_seconds = 10;
};

class RemoteExecutor final : public ChunkExecutor {
 public:
  explicit RemoteExecutor(RemoteOptions options);
  Status RunAll(std::span<const ChunkTask> tasks,
                const std::function<Status(size_t, ChunkOutcome&&)>& on_done) override;

 private:
  RemoteOptions options_;
};

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_EXECUTOR_H_
