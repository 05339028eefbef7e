// TLS and mutual TLS, with certificates made at test time by openssl.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/server/server_test_util.h"

namespace quantd::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/quantd-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(*dir_);
    const std::string d = *dir_;
    const std::string script = "set -e; cd '" + d +
                               "'; "
                               "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
                               "-subj /CN=quantd-test-ca 2>/dev/null; "
                               "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext; "
                               "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "
                               "/CN=localhost 2>/dev/null; "
                               "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                               "-out server.pem -days 2 -extfile san.ext 2>/dev/null; "
                               "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "
                               "/CN=quantctl 2>/dev/null; "
                               "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                               "-out client.pem -days 2 2>/dev/null";
    ok_ = std::system(("bash -c \"" + script + "\"").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(ok_) << "openssl could not make test certificates"; }
  static std::string File(const char* name) { return *dir_ + "/" + name; }

  static grpc::StatusCode Call(int port, std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto stub = v1::Quantizer::NewStub(Connect(port, creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetInfoResponse r;
    return stub->GetInfo(&ctx, {}, &r).error_code();
  }

  static std::string* dir_;
  static bool ok_;
};

std::string* TlsTest::dir_ = nullptr;
bool TlsTest::ok_ = false;

TEST_F(TlsTest, TlsAcceptsTrustingClientsOnly) {
  server::ServerOptions o;
  o.tls_cert = File("server.pem");
  o.tls_key = File("server.key");
  auto s = StartServer(o);
  ASSERT_NE(s, nullptr);
  grpc::SslCredentialsOptions trusting;
  trusting.pem_root_certs = Slurp(File("ca.pem"));
  EXPECT_EQ(Call(s->port(), grpc::SslCredentials(trusting)), grpc::StatusCode::OK);
  EXPECT_EQ(Call(s->port(), grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  server::ServerOptions o;
  o.tls_cert = File("server.pem");
  o.tls_key = File("server.key");
  o.tls_client_ca = File("ca.pem");
  o.health_listen = "127.0.0.1:0";
  auto s = StartServer(o);
  ASSERT_NE(s, nullptr);
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Slurp(File("ca.pem"));
  EXPECT_EQ(Call(s->port(), grpc::SslCredentials(no_cert)), grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_private_key = Slurp(File("client.key"));
  with_cert.pem_cert_chain = Slurp(File("client.pem"));
  EXPECT_EQ(Call(s->port(), grpc::SslCredentials(with_cert)), grpc::StatusCode::OK);
  // The plaintext health port answers probes without any certificate.
  EXPECT_EQ(HealthCheck(Connect(s->health_port())), 1);
}

TEST_F(TlsTest, BadTlsConfigurationIsRefusedAtStart) {
  server::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls_cert = File("server.pem");
  EXPECT_EQ(server::QuantdServer::Start(o).status().code(), StatusCode::kFailedPrecondition);
  o.tls_key = File("missing.key");
  EXPECT_EQ(server::QuantdServer::Start(o).status().code(), StatusCode::kFailedPrecondition);
  server::ServerOptions ca_only;
  ca_only.listen = "127.0.0.1:0";
  ca_only.tls_client_ca = File("ca.pem");
  EXPECT_EQ(server::QuantdServer::Start(ca_only).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace quantd::testing
