// The remote executor against in-process fake servers (client/remote/transport.h): healthy,
// hung, refusing, erroring and lying servers, and the run's outcome in each case. No sockets: the
// fakes answer through the core's EncodeChunk, as quantd does.
#include "client/remote/remote_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "proto/convert.h"
#include "tests/testing/test_util.h"

namespace quantd::client {
namespace {

using ::quantd::testing::StatusIs;

enum class Behavior {
  kHealthy,
  kHangs,         // reads everything, answers nothing
  kStopsReading,  // takes nothing: every write blocks until the stream is cancelled
  kRefuses,       // the stream is broken from the start (connection refused)
  kChunkError,    // answers every chunk with `error`
  kWrongRows,     // answers with another chunk's rows
  kStreamError,   // ends every stream at once with `error`
};

struct FakeServer {
  explicit FakeServer(Behavior b = Behavior::kHealthy, Status e = {}, const FakeServer* after = nullptr)
      : behavior(b), error(std::move(e)), answers_after(after) {}

  Behavior behavior = Behavior::kHealthy;
  Status error;
  // A healthy server answers only once this one has received a chunk (or after 5 s), so that
  // tests see work reach a misbehaving server whatever the scheduling.
  const FakeServer* answers_after = nullptr;
  std::atomic<int> chunks{0};   // chunk headers received
  std::atomic<int> streams{0};  // streams opened
  std::atomic<int> blocked_writes{0};
  std::mutex mu;
  std::map<int64_t, int> sends;  // row_begin -> times received

  int Sends(int64_t row_begin) {
    std::lock_guard<std::mutex> lock(mu);
    return sends[row_begin];
  }
};

class FakeStream final : public ChunkStream {
 public:
  explicit FakeStream(FakeServer& server) : server_(server) {}

  bool Write(const v1::QuantizeRequest& m) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (cancelled_ || server_.behavior == Behavior::kRefuses || server_.behavior == Behavior::kStreamError) {
      return false;
    }
    if (server_.behavior == Behavior::kStopsReading) {
      ++server_.chunks;
      ++server_.blocked_writes;
      cv_.wait(lock, [&] { return cancelled_; });
      return false;
    }
    if (m.has_blob() && m.tensor_name().empty() && m.data().empty()) return true;
    auto it = pending_.find(m.chunk_id());
    if (it == pending_.end()) {
      ++server_.chunks;
      auto spec = rpc::ChunkSpecFromRequest(m);
      EXPECT_TRUE(spec.ok());
      {
        std::lock_guard<std::mutex> s(server_.mu);
        server_.sends[spec->row_begin]++;
      }
      it = pending_.emplace(m.chunk_id(), Pending{*spec, rpc::FromProto(m.device()).value(), {}}).first;
    }
    it->second.data.append(m.data());
    if (it->second.data.size() < ChunkSourceBytes(it->second.spec)) return true;
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (server_.behavior == Behavior::kHangs) return true;
    if (server_.answers_after != nullptr) {
      lock.unlock();
      for (int i = 0; i < 5000 && server_.answers_after->chunks == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      lock.lock();
    }
    v1::QuantizeResponse r;
    r.set_chunk_id(m.chunk_id());
    if (server_.behavior == Behavior::kChunkError) {
      rpc::ToProto(server_.error, r.mutable_error());
    } else {
      ChunkSpec spec = p.spec;
      if (server_.behavior == Behavior::kWrongRows) spec.row_begin = spec.row_begin == 0 ? 1 : 0;
      auto result = EncodeChunk(spec, {reinterpret_cast<const uint8_t*>(p.data.data()), p.data.size()},
                                nullptr, {.device = p.device});
      EXPECT_TRUE(result.ok()) << result.status().ToString();
      rpc::ToProto(result->error, result->encoding.BitsPerWeight(), r.mutable_metrics());
      rpc::ToProto(std::move(result->encoding), r.mutable_encoding());
      r.set_device("cpu");
    }
    answers_.push_back(std::move(r));
    cv_.notify_all();
    return true;
  }

  bool Read(v1::QuantizeResponse* m) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return cancelled_ || !answers_.empty() || server_.behavior == Behavior::kRefuses ||
             server_.behavior == Behavior::kStreamError || (writes_done_ && pending_.empty());
    });
    if (answers_.empty()) return false;
    *m = std::move(answers_.front());
    answers_.pop_front();
    return true;
  }

  void WritesDone() override {
    std::lock_guard<std::mutex> lock(mu_);
    writes_done_ = true;
    cv_.notify_all();
  }

  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

  Status Finish() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (server_.behavior == Behavior::kRefuses) return UnavailableError("failed to connect to all addresses");
    if (server_.behavior == Behavior::kStreamError) return server_.error;
    if (cancelled_) return CancelledError("Cancelled");
    return OkStatus();
  }

 private:
  struct Pending {
    ChunkSpec spec;
    Device device;
    std::string data;
  };
  FakeServer& server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Pending> pending_;
  std::deque<v1::QuantizeResponse> answers_;
  bool writes_done_ = false;
  bool cancelled_ = false;
};

class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::map<std::string, FakeServer*> servers) : servers_(std::move(servers)) {}
  std::unique_ptr<ChunkStream> Open(const std::string& address) override {
    FakeServer* s = servers_.at(address);
    ++s->streams;
    return std::make_unique<FakeStream>(*s);
  }

 private:
  std::map<std::string, FakeServer*> servers_;
};

class RemoteExecutorTest : public ::testing::Test {
 protected:
  static constexpr int64_t kRows = 48, kCols = 64, kRowsPerChunk = 4;

  RemoteExecutorTest() : weights_(testing::Gaussian(kRows * kCols, 5, 0.02f)) {
    for (int64_t r = 0; r < kRows; r += kRowsPerChunk) {
      ChunkSpec spec{.tensor = "layer.w",
                     .shape = {kRows, kCols},
                     .dtype = DType::kF32,
                     .row_begin = r,
                     .row_count = kRowsPerChunk,
                     .method = "rtn",
                     .params = *FindMethod("rtn")->Resolve({}, kCols)};
      chunks_.push_back({.spec = spec,
                         .source = {reinterpret_cast<const uint8_t*>(weights_.data() + r * kCols),
                                    static_cast<size_t>(kRowsPerChunk * kCols * 4)},
                         .calibration = nullptr,
                         .release = nullptr});
    }
  }

  // Runs every chunk on `servers` (address -> fake); collects the records by chunk.
  Status Run(std::map<std::string, FakeServer*> servers, RemoteOptions o = {}) {
    for (const auto& [address, s] : servers) o.servers.push_back(address);
    if (o.session.chunk_timeout_seconds == 600) o.session.chunk_timeout_seconds = 0.3;
    if (o.retry.backoff_initial_seconds == WorkQueue::Options{}.backoff_initial_seconds) {
      o.retry.backoff_initial_seconds = 0.01;
      o.retry.backoff_max_seconds = 0.05;
    }
    RemoteExecutor ex(o, std::make_unique<FakeTransport>(std::move(servers)));
    records_.assign(chunks_.size(), std::nullopt);
    return ex.RunAll(chunks_, Device::kCpu, [&](size_t i, ChunkRecord&& r) -> Status {
      EXPECT_FALSE(records_[i].has_value()) << "chunk " << i << " finished twice";
      records_[i] = std::move(r);
      return OkStatus();
    });
  }

  // Every chunk finished with the in-process encoding of its rows.
  void ExpectInProcessResults() {
    for (size_t i = 0; i < chunks_.size(); ++i) {
      ASSERT_TRUE(records_[i].has_value()) << i;
      auto local = EncodeChunk(chunks_[i].spec, chunks_[i].source, nullptr, {.device = Device::kCpu});
      ASSERT_TRUE(local.ok());
      EXPECT_EQ(records_[i]->result.encoding, local->encoding) << i;
      EXPECT_EQ(records_[i]->result.error.error_energy, local->error.error_energy) << i;
    }
  }

  std::vector<float> weights_;
  std::vector<ChunkInput> chunks_;
  std::vector<std::optional<ChunkRecord>> records_;
};

TEST_F(RemoteExecutorTest, HealthyServersGiveTheInProcessBytes) {
  FakeServer a, b;
  QUANTD_ASSERT_OK(Run({{"a:1", &a}, {"b:2", &b}}));
  ExpectInProcessResults();
  EXPECT_EQ(a.chunks + b.chunks, static_cast<int>(chunks_.size()));
  for (const auto& r : records_) EXPECT_EQ(r->provenance.retries, 0);
}

// A server that stops answering times out; its chunks go to the other server, counted as retries.
TEST_F(RemoteExecutorTest, HungServerTimesOutAndTheOthersFinish) {
  FakeServer hung(Behavior::kHangs);
  FakeServer good(Behavior::kHealthy, {}, &hung);
  QUANTD_ASSERT_OK(Run({{"hung:1", &hung}, {"good:2", &good}}));
  ExpectInProcessResults();
  int retried = 0;
  for (const auto& r : records_) {
    EXPECT_EQ(r->provenance.worker, "good:2");
    retried += r->provenance.retries > 0;
  }
  EXPECT_GT(hung.chunks, 0);
  EXPECT_EQ(retried, hung.chunks);  // every chunk sent to the hung server came back once
}

// A server that stops reading blocks the writer inside Write; the watchdog's deadline cancels the
// stream, which frees it, and the chunk goes elsewhere.
TEST_F(RemoteExecutorTest, ServerThatStopsReadingIsCancelledAtTheDeadline) {
  FakeServer stuck(Behavior::kStopsReading);
  FakeServer good(Behavior::kHealthy, {}, &stuck);  // answers once `stuck` has taken a chunk
  RemoteOptions o;
  o.retry.backoff_initial_seconds = 5;  // once cancelled, `stuck` sits out the rest of the run
  o.retry.backoff_max_seconds = 5;
  QUANTD_ASSERT_OK(Run({{"stuck:1", &stuck}, {"good:2", &good}}, o));
  ExpectInProcessResults();
  EXPECT_GT(stuck.blocked_writes, 0);
}

// When the run fails elsewhere, a writer blocked on a stuck server is cancelled at once, not at
// its (here one-minute) deadline.
TEST_F(RemoteExecutorTest, BlockedWriterIsReleasedWhenTheRunFails) {
  FakeServer stuck(Behavior::kStopsReading);
  FakeServer bad(Behavior::kChunkError, InvalidArgumentError("bad chunk"), &stuck);
  RemoteOptions o;
  o.session.chunk_timeout_seconds = 60;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Run({{"stuck:1", &stuck}, {"bad:2", &bad}}, o),
              StatusIs(StatusCode::kInvalidArgument, "bad chunk"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(stuck.blocked_writes, 1);
}

TEST_F(RemoteExecutorTest, RefusingServerIsSetAside) {
  FakeServer down(Behavior::kRefuses), good;
  QUANTD_ASSERT_OK(Run({{"down:1", &down}, {"good:2", &good}}));
  ExpectInProcessResults();
}

TEST_F(RemoteExecutorTest, AllServersDownFailsNamingEach) {
  FakeServer a(Behavior::kRefuses), b(Behavior::kRefuses);
  RemoteOptions o;
  o.retry.max_backend_failures = 2;
  EXPECT_THAT(Run({{"a:1", &a}, {"b:2", &b}}, o),
              StatusIs(StatusCode::kUnavailable,
                       "no quantd server could make progress: [a:1: UNAVAILABLE: failed to "
                       "connect to all addresses] [b:2: UNAVAILABLE"));
  EXPECT_EQ(a.streams, 2);  // tried again after its backoff, then given up
}

// Errors that would recur on any server fail the run at once, naming the chunk and the server:
// the chunk is sent once, never retried.
TEST_F(RemoteExecutorTest, ChunkErrorsThatRetryingCannotFixFailAtOnce) {
  for (Status error :
       {InvalidArgumentError("tensor 'layer.w': non-finite value"), InternalError("encoder bug")}) {
    FakeServer bad(Behavior::kChunkError, error);
    RemoteOptions o;
    o.session.window = 1;
    EXPECT_THAT(
        Run({{"bad:1", &bad}}, o),
        StatusIs(error.code(), "tensor 'layer.w' rows 0..4 failed on server bad:1: " + error.message()));
    EXPECT_EQ(bad.Sends(0), 1);
  }
}

TEST_F(RemoteExecutorTest, BusyServerHandsItsChunksToAnother) {
  FakeServer busy(Behavior::kChunkError, ResourceExhaustedError("budget full"));
  FakeServer good(Behavior::kHealthy, {}, &busy);
  QUANTD_ASSERT_OK(Run({{"busy:1", &busy}, {"good:2", &good}}));
  ExpectInProcessResults();
  EXPECT_GT(busy.chunks, 0);
}

TEST_F(RemoteExecutorTest, ChunkTriedMaxAttemptsTimesFailsTheRun) {
  FakeServer a(Behavior::kChunkError, UnavailableError("draining"));
  RemoteOptions o;
  o.retry.max_attempts = 3;
  o.retry.max_backend_failures = 100;
  o.session.window = 1;
  EXPECT_THAT(Run({{"a:1", &a}}, o),
              StatusIs(StatusCode::kUnavailable,
                       "tensor 'layer.w' rows 0..4 on a:1: UNAVAILABLE: draining (try 3 of 3)"));
  EXPECT_EQ(a.Sends(0), 3);
}

// An answer for other rows would corrupt the output: the run stops, naming the server.
TEST_F(RemoteExecutorTest, AnswerForAnotherChunkFailsTheRun) {
  FakeServer liar(Behavior::kWrongRows);
  EXPECT_THAT(Run({{"liar:1", &liar}}),
              StatusIs(StatusCode::kInternal, "server liar:1 answered tensor 'layer.w' rows"));
}

TEST_F(RemoteExecutorTest, RefusedCredentialsFailTheRun) {
  FakeServer locked(Behavior::kStreamError, Status(StatusCode::kUnauthenticated, "wrong token"));
  EXPECT_THAT(Run({{"locked:1", &locked}}),
              StatusIs(StatusCode::kUnauthenticated, "server locked:1: wrong token"));
  EXPECT_EQ(locked.streams, 1);  // not retried: another try would be refused the same way
}

TEST_F(RemoteExecutorTest, SinkErrorStopsTheRun) {
  FakeServer good;
  RemoteOptions o;
  o.servers = {"good:1"};
  RemoteExecutor ex(o,
                    std::make_unique<FakeTransport>(std::map<std::string, FakeServer*>{{"good:1", &good}}));
  int calls = 0;
  EXPECT_THAT(ex.RunAll(chunks_, Device::kCpu,
                        [&](size_t, ChunkRecord&&) -> Status {
                          ++calls;
                          return InternalError("disk full");
                        }),
              StatusIs(StatusCode::kInternal, "disk full"));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace quantd::client
