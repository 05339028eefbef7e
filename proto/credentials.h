// File: credentials.h
//
// The secret files both ends read (bearer tokens, PEM certificates and keys) and the gRPC
// credentials made from them: one reader and one trimming rule for quantd and quantctl alike.
#ifndef QUANTD_PROTO_CREDENTIALS_H_
#define QUANTD_PROTO_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <string_view>

#include "quantd/core/status.h"

namespace quantd::rpc {

// Largest secret file read (certificate bundles are a few KiB).
inline constexpr uint64_t kMaxSecretFileBytes = uint64_t{1} << 20;

// The whole of a small secret file. FAILED_PRECONDITION naming `flag` and `path` when it cannot
// be read or is larger than kMaxSecretFileBytes.
StatusOr<std::string> ReadSecretFile(const std::string& path, std::string_view flag);

// A bearer token file: its contents without trailing whitespace (a final newline is usual).
// FAILED_PRECONDITION when unreadable or empty.
StatusOr<std::string> ReadTokenFile(const std::string& path, std::string_view flag);

// The metadata value a token is sent as: "Bearer <token>".
std::string BearerValue(std::string_view token);

// quantctl --tls-ca / --tls-cert / --tls-key. TLS is on when any is given; cert and key go
// together (mutual TLS). All empty: plaintext.
struct ClientTlsFiles {
  std::string ca;
  std::string cert;
  std::string key;
};
StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const ClientTlsFiles& files);

// quantd --tls-cert / --tls-key / --tls-client-ca. cert and key go together; client_ca requires
// and verifies client certificates. All empty: plaintext.
struct ServerTlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;
};
StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const ServerTlsFiles& files);

}  // namespace quantd::rpc

#endif  // QUANTD_PROTO_CREDENTIALS_H_
