// The gRPC transport: ChunkStream over a synchronous ClientReaderWriter.
#include <grpcpp/grpcpp.h>

#include <map>
#include <mutex>

#include "client/remote/transport.h"
#include "proto/convert.h"
#include "proto/credentials.h"
#include "quantd/v1/quantizer.grpc.pb.h"

namespace quantd::client {
namespace {

class GrpcChunkStream final : public ChunkStream {
 public:
  GrpcChunkStream(v1::Quantizer::Stub* stub, const std::string& token) {
    if (!token.empty()) context_.AddMetadata("authorization", rpc::BearerValue(token));
    stream_ = stub->Quantize(&context_);
  }
  bool Write(const v1::QuantizeRequest& m) override { return stream_->Write(m); }
  bool Read(v1::QuantizeResponse* m) override { return stream_->Read(m); }
  void WritesDone() override { stream_->WritesDone(); }
  void Cancel() override { context_.TryCancel(); }
  Status Finish() override { return rpc::FromGrpc(stream_->Finish()); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::QuantizeRequest, v1::QuantizeResponse>> stream_;
};

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions o) : options_(std::move(o)) {}

  std::unique_ptr<ChunkStream> Open(const std::string& address) override {
    return std::make_unique<GrpcChunkStream>(Stub(address), options_.token);
  }

 private:
  v1::Quantizer::Stub* Stub(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& stub = stubs_[address];
    if (!stub) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
      stub = v1::Quantizer::NewStub(grpc::CreateCustomChannel(address, options_.credentials, args));
    }
    return stub.get();
  }

  const GrpcTransportOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<v1::Quantizer::Stub>> stubs_;
};

}  // namespace

std::unique_ptr<Transport> NewGrpcTransport(GrpcTransportOptions options) {
  return std::make_unique<GrpcTransport>(std::move(options));
}

}  // namespace quantd::client
