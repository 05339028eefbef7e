// quantd's memory against hostile and careless clients: answers that are not read keep their
// budget, one stream holds at most its share, an idle stream is ended, unary calls leave the
// wait queue when cancelled and the queue itself is bounded, calls past --max-calls are refused,
// and GetInfo publishes the limits.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "tests/server/server_test_util.h"
#include "tests/testing/test_util.h"

namespace quantd::testing {
namespace {

using v1::QuantizeRequest;
using v1::QuantizeResponse;
using Clock = std::chrono::steady_clock;

// Waits up to 20 s for `done`; false when it never held.
bool Eventually(const std::function<bool()>& done) {
  for (auto end = Clock::now() + std::chrono::seconds(20); Clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class LimitsTest : public ::testing::Test {
 protected:
  void Start(server::ServerOptions o) {
    server_ = StartServer(o);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
    stub_ = v1::Quantizer::NewStub(channel_);
  }
  server::ByteBudget& budget() { return server_->service().budget(); }
  // One whole chunk of `rows` x 64 F32 rows.
  QuantizeRequest Chunk(uint64_t id, int64_t rows) {
    weights_ = Gaussian(rows * 64, id);
    return ChunkRequest(id, "t", weights_, rows, 64, 0, rows, "rtn", {});
  }
  std::unique_ptr<server::QuantdServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Quantizer::Stub> stub_;
  std::vector<float> weights_;
};

// A client that sends chunks and never reads the answers: the answers keep their chunks' bytes
// until written, so the stream stops at its share of the budget (it is not allowed to queue
// answers without bound), and another client still gets through.
TEST_F(LimitsTest, UnreadAnswersHoldTheirBudgetAndStopAtTheStreamsShare) {
  server::ServerOptions o;
  o.max_inflight_bytes = 4 << 20;  // share: 2 MiB
  o.stream_idle_seconds = 0;
  Start(o);
  const uint64_t share = server_->service().stream_share();
  ASSERT_EQ(share, uint64_t{2} << 20);
  grpc::ClientContext slow_ctx;
  auto slow = stub_->Quantize(&slow_ctx);
  std::atomic<int> written{0};
  std::thread writer([&] {
    const QuantizeRequest chunk = Chunk(0, 1024);  // 256 KiB each
    for (uint64_t id = 1; id <= 400; ++id) {
      QuantizeRequest r = chunk;
      r.set_chunk_id(id);
      if (!slow->Write(r)) return;
      ++written;
    }
  });
  // The server reads until this stream's unsent answers fill its share, then stops.
  ASSERT_TRUE(Eventually([&] { return budget().in_use() >= share - (256 << 10); }))
      << "in use: " << budget().in_use();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LE(budget().in_use(), share);
  EXPECT_LE(budget().peak(), share);
  EXPECT_LT(written.load(), 400);
  // Another client is not held up.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  QuantizeResponse resp;
  EXPECT_TRUE(stub_->QuantizeChunk(&ctx, Chunk(1000, 64), &resp).ok());
  slow_ctx.TryCancel();
  writer.join();
  (void)slow->Finish();
  EXPECT_TRUE(Eventually([&] { return budget().in_use() == 0; })) << budget().in_use();
}

// The first part of a large chunk, then silence: the stream holds budget without progress and is
// ended after --stream-idle-seconds with a clear status; its bytes come back.
TEST_F(LimitsTest, IdleStreamHoldingBudgetIsEnded) {
  server::ServerOptions o;
  o.max_inflight_bytes = 4 << 20;
  o.stream_idle_seconds = 0.3;
  Start(o);
  grpc::ClientContext ctx;
  auto stream = stub_->Quantize(&ctx);
  QuantizeRequest first = Chunk(1, 4096);  // 1 MiB, of which only the first bytes are sent
  first.set_data(first.data().substr(0, 1));
  ASSERT_TRUE(stream->Write(first));
  ASSERT_TRUE(Eventually([&] { return budget().in_use() == (uint64_t{1} << 20); }));
  QuantizeResponse resp;
  EXPECT_FALSE(stream->Read(&resp));  // ended by the server, no answer
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_NE(s.error_message().find("--stream-idle-seconds"), std::string::npos) << s.error_message();
  EXPECT_TRUE(Eventually([&] { return budget().in_use() == 0; }));
}

// A chunk larger than one stream's share can never be served: refused at once.
TEST_F(LimitsTest, ChunkAboveTheShareIsRefused) {
  server::ServerOptions o;
  o.max_inflight_bytes = 4 << 20;
  o.max_stream_bytes = 1 << 20;
  Start(o);
  grpc::ClientContext ctx;
  QuantizeResponse resp;
  const grpc::Status s = stub_->QuantizeChunk(&ctx, Chunk(1, 8192), &resp);  // 2 MiB
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

// Unary calls waiting for budget leave the queue when their deadline passes (their bytes and
// messages are freed), and the queue holds at most the budget again in waiting bytes.
TEST_F(LimitsTest, UnaryWaitersLeaveOnDeadlineAndTheQueueIsBounded) {
  server::ServerOptions o;
  o.max_inflight_bytes = 1 << 20;
  o.max_stream_bytes = 1 << 20;
  o.stream_idle_seconds = 0;
  Start(o);
  // A stream takes the whole budget with an incomplete chunk.
  grpc::ClientContext hold_ctx;
  auto hold = stub_->Quantize(&hold_ctx);
  QuantizeRequest big = Chunk(1, 4096);  // 1 MiB
  big.set_data(big.data().substr(0, 1));
  ASSERT_TRUE(hold->Write(big));
  ASSERT_TRUE(Eventually([&] { return budget().in_use() == (uint64_t{1} << 20); }));

  const QuantizeRequest half = Chunk(2, 2048);  // 512 KiB
  std::vector<std::thread> callers;
  std::vector<grpc::StatusCode> codes(2, grpc::StatusCode::OK);
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(800));
      QuantizeResponse resp;
      codes[i] = stub_->QuantizeChunk(&ctx, half, &resp).error_code();
    });
  }
  ASSERT_TRUE(Eventually([&] { return budget().waiting_bytes() == (uint64_t{1} << 20); }));
  {
    grpc::ClientContext ctx;  // a third would take waiting past the budget
    QuantizeResponse resp;
    const grpc::Status s = stub_->QuantizeChunk(&ctx, half, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_NE(s.error_message().find("server busy"), std::string::npos) << s.error_message();
  }
  for (auto& t : callers) t.join();
  for (grpc::StatusCode c : codes) EXPECT_EQ(c, grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Eventually([&] { return budget().waiting_bytes() == 0; })) << budget().waiting_bytes();
  EXPECT_EQ(budget().in_use(), uint64_t{1} << 20);  // the stream's, untouched
  hold_ctx.TryCancel();
  (void)hold->Finish();
  EXPECT_TRUE(Eventually([&] { return budget().in_use() == 0; }));
}

TEST_F(LimitsTest, GetInfoPublishesTheLimits) {
  server::ServerOptions o;
  o.max_inflight_bytes = 64 << 20;
  o.stream_idle_seconds = 45;
  Start(o);
  grpc::ClientContext ctx;
  v1::GetInfoResponse info;
  ASSERT_TRUE(stub_->GetInfo(&ctx, {}, &info).ok());
  EXPECT_EQ(info.max_stream_bytes(), uint64_t{32} << 20);
  EXPECT_EQ(info.stream_idle_seconds(), 45);
  EXPECT_EQ(info.limits().at("pvq.max_table_bytes"), uint64_t{64} << 20);
  EXPECT_EQ(info.limits().at("kashin.max_dense_length"), 4096u);
  EXPECT_EQ(info.max_calls(), 64);
  EXPECT_EQ(info.stream_window_bytes(), uint64_t{1} << 20);
}

// Each open call may hold a received message and a receive window outside the budget, so their
// number is bounded: past --max-calls a call is refused at once, GetInfo still answers, and the
// slot comes back when a call ends.
TEST_F(LimitsTest, CallsPastMaxCallsAreRefusedAndSlotsComeBack) {
  server::ServerOptions o;
  o.max_calls = 2;
  Start(o);
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<QuantizeRequest, QuantizeResponse>>> open;
  for (int i = 0; i < 2; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    open.push_back(stub_->Quantize(ctxs.back().get()));
    // One answered chunk proves the stream is admitted (and holds its slot).
    ASSERT_TRUE(open.back()->Write(Chunk(1, 4)));
    QuantizeResponse r;
    ASSERT_TRUE(open.back()->Read(&r));
  }
  {
    grpc::ClientContext ctx;
    auto third = stub_->Quantize(&ctx);
    (void)third->Write(Chunk(1, 4));
    QuantizeResponse r;
    EXPECT_FALSE(third->Read(&r));
    const grpc::Status s = third->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(s.error_message().find("--max-calls"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    QuantizeResponse r;
    const grpc::Status s = stub_->QuantizeChunk(&ctx, Chunk(1, 4), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::GetInfoResponse info;
    EXPECT_TRUE(stub_->GetInfo(&ctx, {}, &info).ok());
  }
  open[0]->WritesDone();
  EXPECT_TRUE(open[0]->Finish().ok());
  // The slot is given back when the server is done with the call, just after the client sees it.
  EXPECT_TRUE(Eventually([&] {
    grpc::ClientContext ctx;
    QuantizeResponse r;
    return stub_->QuantizeChunk(&ctx, Chunk(1, 4), &r).ok();
  }));
  open[1]->WritesDone();
  EXPECT_TRUE(open[1]->Finish().ok());
}

}  // namespace
}  // namespace quantd::testing
