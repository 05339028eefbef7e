#include "proto/credentials.h"

#include <fstream>
#include <sstream>

namespace quantd::rpc {

StatusOr<std::string> ReadSecretFile(const std::string& path, std::string_view flag) {
  const std::string who = std::string(flag) + " " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPreconditionError(who + " cannot be read");
  std::string bytes;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    bytes.append(buf, static_cast<size_t>(in.gcount()));
    if (bytes.size() > kMaxSecretFileBytes) return FailedPreconditionError(who + " is over 1 MiB");
  }
  if (in.bad()) return FailedPreconditionError(who + " cannot be read");
  return bytes;
}

StatusOr<std::string> ReadTokenFile(const std::string& path, std::string_view flag) {
  QUANTD_ASSIGN_OR_RETURN(std::string token, ReadSecretFile(path, flag));
  while (!token.empty() &&
         (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) return FailedPreconditionError(std::string(flag) + " " + path + " is empty");
  return token;
}

std::string BearerValue(std::string_view token) { return "Bearer " + std::string(token); }

StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const ClientTlsFiles& f) {
  if (f.ca.empty() && f.cert.empty() && f.key.empty()) return grpc::InsecureChannelCredentials();
  if (f.cert.empty() != f.key.empty()) {
    return FailedPreconditionError("--tls-cert and --tls-key must be given together");
  }
  grpc::SslCredentialsOptions ssl;
  if (!f.ca.empty()) {
    QUANTD_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadSecretFile(f.ca, "--tls-ca"));
  }
  if (!f.cert.empty()) {
    QUANTD_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadSecretFile(f.cert, "--tls-cert"));
    QUANTD_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadSecretFile(f.key, "--tls-key"));
  }
  return grpc::SslCredentials(ssl);
}

StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const ServerTlsFiles& f) {
  if (f.cert.empty() && f.key.empty()) {
    if (!f.client_ca.empty())
      return FailedPreconditionError("--tls-client-ca needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  if (f.cert.empty() || f.key.empty())
    return FailedPreconditionError("--tls-cert and --tls-key must be given together");
  grpc::SslServerCredentialsOptions ssl(f.client_ca.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  QUANTD_ASSIGN_OR_RETURN(pair.private_key, ReadSecretFile(f.key, "--tls-key"));
  QUANTD_ASSIGN_OR_RETURN(pair.cert_chain, ReadSecretFile(f.cert, "--tls-cert"));
  ssl.pem_key_cert_pairs.push_back(pair);
  if (!f.client_ca.empty()) {
    QUANTD_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadSecretFile(f.client_ca, "--tls-client-ca"));
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace quantd::rpc
