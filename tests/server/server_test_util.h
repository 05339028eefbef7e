// Helpers for tests that run quantd servers in-process.
#ifndef QUANTD_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define QUANTD_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "proto/convert.h"
#include "quantd/core/quantize.h"
#include "quantd/v1/quantizer.grpc.pb.h"
#include "server/quantd_server.h"

namespace quantd::testing {

inline std::unique_ptr<server::QuantdServer> StartServer(server::ServerOptions o = {}) {
  if (o.listen == "0.0.0.0:50051") o.listen = "127.0.0.1:0";
  if (o.threads == 0) o.threads = 2;
  o.quiet = true;
  auto s = server::QuantdServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

inline std::shared_ptr<grpc::Channel> Connect(
    int port, std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), creds, args);
}

// A chunk request for rows [row_begin, row_begin + rows) of a rows_total x cols F32 tensor whose
// values are `all` (row-major, the whole tensor).
inline v1::QuantizeRequest ChunkRequest(uint64_t id, const std::string& tensor, const std::vector<float>& all,
                                        int64_t rows_total, int64_t cols, int64_t row_begin, int64_t rows,
                                        const std::string& method, const Params& params) {
  v1::QuantizeRequest r;
  r.set_chunk_id(id);
  r.set_tensor_name(tensor);
  r.add_shape(rows_total);
  r.add_shape(cols);
  r.set_dtype(v1::F32);
  r.set_row_begin(row_begin);
  r.set_row_count(rows);
  rpc::ToProto(method, params, r.mutable_params());
  r.set_data(reinterpret_cast<const char*>(all.data() + row_begin * cols), rows * cols * 4);
  return r;
}

// What the in-process core gives for the same rows.
inline Encoding LocalEncoding(const std::string& tensor, const std::vector<float>& all, int64_t rows_total,
                              int64_t cols, int64_t row_begin, int64_t rows, const std::string& method,
                              const Params& params) {
  std::vector<int64_t> shape = {rows_total, cols};
  Chunk b{.tensor_name = tensor,
          .shape = shape,
          .row_begin = row_begin,
          .rows = rows,
          .cols = cols,
          .data = std::span<const float>(all.data() + row_begin * cols, rows * cols)};
  auto e = EncodeRows(b, method, params);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? *e : Encoding{};
}

// grpc.health.v1.Health/Check through the generic stub: returns 1 SERVING, 2 NOT_SERVING, or -code.
inline int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service = "") {
  grpc::GenericStub stub(channel);
  std::string req;
  if (!service.empty()) {
    req.push_back(0x0A);
    req.push_back(static_cast<char>(service.size()));
    req += service;
  }
  grpc::Slice slice(req);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &in, &out,
                 [&](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  if (!s.ok()) return -static_cast<int>(s.error_code());
  std::vector<grpc::Slice> slices;
  (void)out.Dump(&slices);
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  if (bytes.size() == 2 && bytes[0] == 0x08) return bytes[1];
  return 0;  // status UNKNOWN (field omitted)
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_SERVER_SERVER_TEST_UTIL_H_
