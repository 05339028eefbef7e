#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "quantd/core/method.h"
#include "tests/server/server_test_util.h"
#include "tests/testing/test_util.h"

namespace quantd::testing {
namespace {

using v1::QuantizeRequest;
using v1::QuantizeResponse;

class ServerTest : public ::testing::Test {
 protected:
  void Start(server::ServerOptions o = {}) {
    server_ = StartServer(o);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
    stub_ = v1::Quantizer::NewStub(channel_);
  }
  // Runs one stream: writes every request, then reads every response (keyed by chunk id).
  grpc::Status Stream(const std::vector<QuantizeRequest>& requests,
                      std::map<uint64_t, QuantizeResponse>* out) {
    grpc::ClientContext ctx;
    auto stream = stub_->Quantize(&ctx);
    for (const auto& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
    QuantizeResponse resp;
    while (stream->Read(&resp)) {
      EXPECT_EQ(out->count(resp.chunk_id()), 0u) << "chunk answered twice";
      (*out)[resp.chunk_id()] = resp;
    }
    return stream->Finish();
  }
  std::unique_ptr<server::QuantdServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Quantizer::Stub> stub_;
};

TEST_F(ServerTest, GetInfoListsMethodsAndLimits) {
  server::ServerOptions o;
  o.max_inflight_bytes = 8 << 20;
  Start(o);
  grpc::ClientContext ctx;
  v1::GetInfoResponse info;
  ASSERT_TRUE(stub_->GetInfo(&ctx, {}, &info).ok());
  EXPECT_EQ(info.format_version(), 1u);
  EXPECT_EQ(info.max_inflight_bytes(), 8u << 20);
  EXPECT_EQ(info.threads(), 2);
  bool rtn = false;
  for (const auto& m : info.methods()) {
    if (m.name() == "rtn") {
      rtn = true;
      EXPECT_GE(m.params_size(), 3);
    }
  }
  EXPECT_TRUE(rtn);
  ASSERT_GE(info.devices_size(), 1);
  EXPECT_EQ(info.devices(0).name(), "cpu");
}

// The server's bytes equal the in-process core's, for unary and streamed chunks, whatever the
// server's thread count.
TEST_F(ServerTest, ResultsAreTheInProcessBytes) {
  for (int threads : {1, 2}) {
    server::ServerOptions o;
    o.threads = threads;
    Start(o);
    const int64_t rows = 40, cols = 96;
    auto w = Gaussian(rows * cols, 3, 0.02f);
    const Params p{{"bits", "3"}, {"group_size", "32"}};
    // Unary.
    grpc::ClientContext ctx;
    QuantizeResponse one;
    ASSERT_TRUE(stub_->QuantizeChunk(&ctx, ChunkRequest(7, "w", w, rows, cols, 8, 10, "rtn", p), &one).ok());
    EXPECT_EQ(one.chunk_id(), 7u);
    auto got = rpc::FromProto(one.encoding());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, LocalEncoding("w", w, rows, cols, 8, 10, "rtn", p));
    EXPECT_GT(one.metrics().sqnr_db(), 10);
    EXPECT_EQ(one.metrics().count(), 10 * cols);
    // Streamed, 4 chunks.
    std::vector<QuantizeRequest> reqs;
    for (int c = 0; c < 4; ++c)
      reqs.push_back(ChunkRequest(100 + c, "w", w, rows, cols, c * 10, 10, "rtn", p));
    std::map<uint64_t, QuantizeResponse> out;
    ASSERT_TRUE(Stream(reqs, &out).ok());
    ASSERT_EQ(out.size(), 4u);
    for (int c = 0; c < 4; ++c) {
      auto e = rpc::FromProto(out[100 + c].encoding());
      ASSERT_TRUE(e.ok());
      EXPECT_EQ(*e, LocalEncoding("w", w, rows, cols, c * 10, 10, "rtn", p)) << c;
      EXPECT_FALSE(out[100 + c].has_error());
    }
    server_.reset();
  }
}

// A chunk split over several messages is reassembled; the result is the unsplit chunk's.
TEST_F(ServerTest, SplitChunksReassemble) {
  Start();
  const int64_t rows = 16, cols = 128;
  auto w = Gaussian(rows * cols, 4);
  QuantizeRequest whole = ChunkRequest(1, "t", w, rows, cols, 0, rows, "rtn", {{"bits", "4"}});
  std::vector<QuantizeRequest> parts;
  const std::string data = whole.data();
  for (size_t off = 0; off < data.size(); off += 1000) {
    QuantizeRequest p = off == 0 ? whole : QuantizeRequest();
    p.set_chunk_id(1);
    p.set_data_offset(off);
    p.set_data(data.substr(off, 1000));
    parts.push_back(p);
  }
  std::map<uint64_t, QuantizeResponse> out;
  ASSERT_TRUE(Stream(parts, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  auto e = rpc::FromProto(out[1].encoding());
  ASSERT_TRUE(e.ok()) << out[1].error().message();
  EXPECT_EQ(*e, LocalEncoding("t", w, rows, cols, 0, rows, "rtn", {{"bits", "4"}}));
}

// Every malformed chunk gets its own error with the right code and a message naming the field
// and tensor, and the stream's good chunks are unaffected.
TEST_F(ServerTest, BadChunksFailAloneWithClearErrors) {
  server::ServerOptions o;
  o.max_inflight_bytes = 4 << 20;
  Start(o);
  const int64_t rows = 8, cols = 64;
  auto w = Gaussian(rows * cols, 5);
  std::vector<QuantizeRequest> reqs;
  std::map<uint64_t, std::pair<int, std::string>> expect;  // id -> (code, message part)
  auto add = [&](uint64_t id, QuantizeRequest r, int code, std::string msg) {
    r.set_chunk_id(id);
    reqs.push_back(std::move(r));
    expect[id] = {code, std::move(msg)};
  };
  const QuantizeRequest good = ChunkRequest(0, "layer.w", w, rows, cols, 0, rows, "rtn", {{"bits", "4"}});
  add(1, good, 0, "");
  {
    auto r = good;
    r.set_data(r.data().substr(0, 100));
    add(2, r, 0, "");
  }  // incomplete: answered at stream end
  {
    auto r = good;
    r.set_dtype(static_cast<v1::DType>(99));
    add(3, r, 3, "dtype");
  }
  {
    auto r = good;
    r.set_dtype(v1::I32);
    add(4, r, 3, "cannot be quantized");
  }
  {
    auto r = good;
    r.mutable_params()->set_method_name("gptq");
    add(5, r, 3, "unknown method 'gptq'");
  }
  {
    auto r = good;
    (*r.mutable_params()->mutable_extra())["bits"] = "11";
    add(6, r, 3, "'bits' = 11");
  }
  {
    auto r = good;
    r.set_row_begin(5);
    add(7, r, 3, "lie outside");
  }
  {
    auto r = good;
    r.clear_shape();
    r.add_shape(int64_t{1} << 40);
    r.add_shape(int64_t{1} << 40);
    add(8, r, 3, "2^40");
  }
  {
    auto r = good;
    r.clear_shape();
    r.add_shape(1 << 20);
    r.add_shape(4096);
    r.set_row_count(1 << 20);
    add(9, r, 8, "can never fit");
  }
  {
    auto r = good;
    std::vector<float> bad = w;
    bad[70] = std::numeric_limits<float>::infinity();
    r.set_data(reinterpret_cast<const char*>(bad.data()), bad.size() * 4);
    add(10, r, 3, "non-finite value inf at row 1, column 6");
  }
  {
    auto r = good;
    r.set_hessian_key("h");
    add(11, r, 9, "was not uploaded");
  }
  {
    auto r = good;
    r.set_tensor_name("");
    add(12, r, 3, "tensor_name is empty");
  }
  {
    auto r = good;
    r.set_data_offset(64);
    add(13, r, 3, "must start at data_offset 0");
  }
  add(14, good, 0, "");
  {
    auto r = good;  // a rank-0 tensor: one row of one value
    r.clear_shape();
    r.set_row_count(1);
    r.set_data(r.data().substr(0, 4));
    add(15, r, 0, "");
  }
  std::map<uint64_t, QuantizeResponse> out;
  // Chunk 2 stays incomplete: its error comes when the client half-closes.
  expect[2] = {3, "stream ended before"};
  ASSERT_TRUE(Stream(reqs, &out).ok());
  ASSERT_EQ(out.size(), expect.size());
  for (const auto& [id, e] : expect) {
    const QuantizeResponse& r = out[id];
    if (e.first == 0) {
      EXPECT_FALSE(r.has_error()) << id << ": " << r.error().message();
      EXPECT_TRUE(rpc::FromProto(r.encoding()).ok()) << id;
    } else {
      ASSERT_TRUE(r.has_error()) << id;
      EXPECT_EQ(r.error().code(), e.first) << id << ": " << r.error().message();
      EXPECT_NE(r.error().message().find(e.second), std::string::npos) << id << ": " << r.error().message();
    }
  }
  EXPECT_EQ(server_->service().budget().in_use(), 0u);
}

TEST_F(ServerTest, SplitThatDoesNotReassembleFailsThatChunk) {
  Start();
  auto w = Gaussian(8 * 64, 6);
  QuantizeRequest first = ChunkRequest(1, "t", w, 8, 64, 0, 8, "rtn", {});
  const std::string data = first.data();
  first.set_data(data.substr(0, 512));
  QuantizeRequest gap;
  gap.set_chunk_id(1);
  gap.set_data_offset(1024);  // skips bytes 512..1024
  gap.set_data(data.substr(1024, 512));
  QuantizeRequest rest;  // the chunk's remaining part: dropped quietly, no second answer
  rest.set_chunk_id(1);
  rest.set_data_offset(1536);
  rest.set_data(data.substr(1536));
  QuantizeRequest other = ChunkRequest(2, "t", w, 8, 64, 0, 8, "rtn", {});
  std::map<uint64_t, QuantizeResponse> out;
  ASSERT_TRUE(Stream({first, gap, rest, other}, &out).ok());  // Stream fails the test on a second answer
  ASSERT_TRUE(out[1].has_error());
  EXPECT_NE(out[1].error().message().find("does not reassemble"), std::string::npos);
  EXPECT_FALSE(out[2].has_error());
  EXPECT_EQ(server_->service().budget().in_use(), 0u);
}

TEST_F(ServerTest, UnaryErrorsAreStatusCodes) {
  server::ServerOptions o;
  o.max_inflight_bytes = 1 << 20;
  Start(o);
  auto w = Gaussian(4 * 32, 7);
  auto call = [&](QuantizeRequest r) {
    grpc::ClientContext ctx;
    QuantizeResponse resp;
    return stub_->QuantizeChunk(&ctx, r, &resp);
  };
  QuantizeRequest good = ChunkRequest(1, "u", w, 4, 32, 0, 4, "rtn", {});
  EXPECT_TRUE(call(good).ok());
  auto r = good;
  r.set_data(r.data().substr(8));
  grpc::Status s = call(r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("whole chunk in one message"), std::string::npos) << s.error_message();
  r = good;
  r.mutable_params()->set_method_name("nope");
  EXPECT_EQ(call(r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = good;
  r.clear_shape();
  r.add_shape(4096);
  r.add_shape(4096);
  r.set_row_count(4096);
  EXPECT_EQ(call(r).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Dequantize of a corrupt encoding.
  grpc::ClientContext ctx;
  v1::DequantizeRequest dq;
  v1::DequantizeResponse dr;
  QuantizeResponse ok;
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->QuantizeChunk(&c2, good, &ok).ok());
  *dq.mutable_encoding() = ok.encoding();
  dq.mutable_encoding()->mutable_sections(0)->mutable_data()->pop_back();
  s = stub_->Dequantize(&ctx, dq, &dr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(ServerTest, DequantizeMatchesCoreDecode) {
  Start();
  const int64_t rows = 6, cols = 50;
  auto w = Gaussian(rows * cols, 8);
  grpc::ClientContext c1;
  QuantizeResponse q;
  ASSERT_TRUE(
      stub_->QuantizeChunk(&c1, ChunkRequest(1, "d", w, rows, cols, 0, rows, "rtn", {{"bits", "5"}}), &q)
          .ok());
  for (v1::DType dt : {v1::F32, v1::BF16}) {
    grpc::ClientContext c2;
    v1::DequantizeRequest req;
    *req.mutable_encoding() = q.encoding();
    req.set_dtype(dt);
    v1::DequantizeResponse resp;
    ASSERT_TRUE(stub_->Dequantize(&c2, req, &resp).ok());
    EXPECT_EQ(resp.shape(0), rows);
    EXPECT_EQ(resp.shape(1), cols);
    auto local = DecodeRows(*rpc::FromProto(q.encoding()));
    ASSERT_TRUE(local.ok());
    std::vector<uint8_t> expect(local->size() * (dt == v1::F32 ? 4 : 2));
    ASSERT_TRUE(ConvertFromFloat(*local, dt == v1::F32 ? DType::kF32 : DType::kBF16, expect).ok());
    EXPECT_EQ(resp.data(), std::string(expect.begin(), expect.end()));
  }
}

// Many streams at once, of every method, each with chunks of different rows; every result is
// checked against the in-process encoding.
TEST_F(ServerTest, ConcurrentStreamsAllCorrect) {
  server::ServerOptions o;
  o.max_inflight_bytes = 256 << 10;  // small: streams must wait for each other
  Start(o);
  const int64_t rows = 64, cols = 256;
  auto w = Gaussian(rows * cols, 9);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::vector<QuantizeRequest> reqs;
      // Mixed methods: every registered one takes part.
      const auto methods = AllMethods();
      const std::string method(methods[t % methods.size()]->name());
      const Params p =
          method == "rtn" ? Params{{"bits", std::to_string(2 + t)}, {"group_size", "64"}} : Params{};
      for (int c = 0; c < 8; ++c)
        reqs.push_back(ChunkRequest(c, "w" + std::to_string(t), w, rows, cols, c * 8, 8, method, p));
      std::map<uint64_t, QuantizeResponse> out;
      grpc::ClientContext ctx;
      auto stream = stub_->Quantize(&ctx);
      for (const auto& r : reqs) stream->Write(r);
      stream->WritesDone();
      QuantizeResponse resp;
      while (stream->Read(&resp)) out[resp.chunk_id()] = resp;
      if (!stream->Finish().ok() || out.size() != 8) {
        ++failures;
        return;
      }
      for (int c = 0; c < 8; ++c) {
        auto e = rpc::FromProto(out[c].encoding());
        if (!e.ok() || !(*e == LocalEncoding("w" + std::to_string(t), w, rows, cols, c * 8, 8, method, p)))
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server_->service().budget().in_use(), 0u);
  EXPECT_LE(server_->service().budget().peak(), 256u << 10);
}

// Cancelling a stream mid-chunk gives its reserved bytes back.
TEST_F(ServerTest, CancellationFreesTheBudget) {
  Start();
  auto w = Gaussian(64 * 256, 10);
  grpc::ClientContext ctx;
  auto stream = stub_->Quantize(&ctx);
  QuantizeRequest first = ChunkRequest(1, "c", w, 64, 256, 0, 64, "rtn", {});
  first.set_data(first.data().substr(0, 4096));  // the first part of a 64 KiB chunk
  ASSERT_TRUE(stream->Write(first));
  for (int i = 0; i < 200 && server_->service().budget().in_use() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->service().budget().in_use(), 64u * 256 * 4);
  ctx.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && server_->service().budget().in_use() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->service().budget().in_use(), 0u);
  for (int i = 0; i < 200 && server_->service().open_streams() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->service().open_streams(), 0u);
}

// Shutdown: health goes NOT_SERVING, in-flight chunks are answered, the stream ends
// UNAVAILABLE, and new RPCs are refused.
TEST_F(ServerTest, GracefulShutdownFinishesInFlightWork) {
  server::ServerOptions o;
  o.health_listen = "127.0.0.1:0";
  Start(o);
  auto health = Connect(server_->health_port());
  EXPECT_EQ(HealthCheck(channel_), 1);
  EXPECT_EQ(HealthCheck(health, "quantd.v1.Quantizer"), 1);
  auto w = Gaussian(32 * 64, 11);
  server_->service().pool().PauseForTesting(true);  // chunks stay in flight
  grpc::ClientContext ctx;
  auto stream = stub_->Quantize(&ctx);
  for (int c = 0; c < 4; ++c)
    ASSERT_TRUE(stream->Write(ChunkRequest(c, "g", w, 32, 64, c * 8, 8, "rtn", {})));
  for (int i = 0; i < 300 && server_->service().budget().in_use() < 4u * 8 * 64 * 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::thread stopper([&] { server_->Shutdown(10); });
  for (int i = 0; i < 300 && HealthCheck(health) != 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(HealthCheck(health), 2);  // NOT_SERVING while draining
  {
    grpc::ClientContext c2;
    v1::GetInfoResponse info;
    EXPECT_EQ(stub_->GetInfo(&c2, {}, &info).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  server_->service().pool().PauseForTesting(false);
  std::map<uint64_t, QuantizeResponse> out;
  QuantizeResponse resp;
  while (stream->Read(&resp)) out[resp.chunk_id()] = resp;
  grpc::Status s = stream->Finish();
  stopper.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  ASSERT_EQ(out.size(), 4u);
  for (auto& [id, r] : out) {
    EXPECT_FALSE(r.has_error()) << r.error().message();
    EXPECT_EQ(*rpc::FromProto(r.encoding()), LocalEncoding("g", w, 32, 64, id * 8, 8, "rtn", {}));
  }
}

TEST_F(ServerTest, TokenAuthentication) {
  const std::string token_path = ::testing::TempDir() + "/quantd-token";
  {
    std::FILE* f = std::fopen(token_path.c_str(), "w");
    std::fputs("s3cret\n", f);
    std::fclose(f);
  }
  server::ServerOptions o;
  o.token_file = token_path;
  Start(o);
  auto info = [&](const char* auth) {
    grpc::ClientContext ctx;
    if (auth) ctx.AddMetadata("authorization", auth);
    v1::GetInfoResponse r;
    return stub_->GetInfo(&ctx, {}, &r).error_code();
  };
  EXPECT_EQ(info(nullptr), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(info("Bearer wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(info("Bearer s3cret"), grpc::StatusCode::OK);
  grpc::ClientContext ctx;
  auto stream = stub_->Quantize(&ctx);
  stream->WritesDone();
  QuantizeResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Health stays open for probes.
  EXPECT_EQ(HealthCheck(channel_), 1);
  server::ServerOptions bad;
  bad.token_file = ::testing::TempDir() + "/no-such-token";
  EXPECT_EQ(server::QuantdServer::Start(bad).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace quantd::testing
