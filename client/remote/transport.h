// File: transport.h
//
// How a remote run talks to one server: a `ChunkStream` is one open Quantize RPC, a `Transport`
// opens them by address. The gRPC transport (NewGrpcTransport) is what quantctl uses; tests put
// in-process fakes in its place to play hung, broken, slow and misbehaving servers.
#ifndef QUANTD_CLIENT_REMOTE_TRANSPORT_H_
#define QUANTD_CLIENT_REMOTE_TRANSPORT_H_

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "quantd/core/status.h"
#include "quantd/v1/quantizer.pb.h"

namespace quantd::client {

// One bidirectional Quantize stream. Write and Read may run on two threads at once (one each);
// Cancel may be called from any thread at any time and makes both return false soon.
class ChunkStream {
 public:
  virtual ~ChunkStream() = default;
  // False when the stream is broken.
  virtual bool Write(const v1::QuantizeRequest& message) = 0;
  // False when the stream has ended (then call Finish).
  virtual bool Read(v1::QuantizeResponse* message) = 0;
  // No more writes.
  virtual void WritesDone() = 0;
  virtual void Cancel() = 0;
  // The stream's final status. REQUIRES: Read returned false.
  virtual Status Finish() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::unique_ptr<ChunkStream> Open(const std::string& address) = 0;
};

struct GrpcTransportOptions {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  std::string token;  // sent as "authorization: Bearer <token>" when set
  // With TLS: the name the servers' certificates must carry, instead of the address dialled
  // (dns:/// resolves to pod IPs, which a shared certificate does not name).
  std::string tls_server_name;
};

// Streams over gRPC, one channel per address (created on first use and kept).
std::unique_ptr<Transport> NewGrpcTransport(GrpcTransportOptions options);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_TRANSPORT_H_
