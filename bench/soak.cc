// quantd under hostile load: a load and soak program (not a timed test).
//
// Starts one quantd process with a small memory budget, then runs many concurrent clients for a
// while, each repeatedly picking one behaviour:
//   stream      a Quantize stream of several chunks (all four methods), read promptly
//   slow        the same, but reads one answer every --slow-read-ms
//   no-read     writes chunks and never reads; cancels after 1-4 s (the server may end it first)
//   broken      sends the first part of a split chunk, then cancels, half-closes, or goes silent
//   unary       QuantizeChunk with a short deadline; some are cancelled while they wait
//   dequantize  Dequantize of a known encoding
//   hostile     a one-row PVQ request whose counting table would be huge
// Every answer that arrives OK is compared with the bytes the in-process core gives for the same
// chunk; every error must be one the behaviour can cause. The server's RSS is sampled all along.
// At the end, two streams each send a chunk of a whole per-stream share at once, which succeeds
// only if every byte of the budget came back. It prints the peak RSS against the budget and the
// server's RSS when idle, and exits 1 on any wrong byte, unexpected status, server death, or a
// peak above the bound docs/DEPLOY.md documents:
//   base + F x budget + calls x (2 x largest message + receive window)
// where base is the server's RSS after a warm-up, F is --max-rss-factor, and calls the most calls
// open at once (one per client here; --max-calls on a server). Outside the budget, each open
// call may hold one received message, briefly twice (gRPC's buffers and the parsed request),
// and its receive window (--stream-window-bytes).
//
//   build/bin/soak --quantd build/bin/quantd [--seconds 60] [--clients 50] [--budget-mib 32]
//                  [--server-threads 2] [--idle-seconds 3] [--slow-read-ms 300] [--seed 1]
//                  [--max-rss-factor 2.5] [--only stream|slow|no-read|broken|unary|dequantize|hostile]
//                  [--server-log FILE]
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/convert.h"
#include "quantd/core/quantize.h"
#include "quantd/v1/quantizer.grpc.pb.h"
#include "tests/testing/random_tensors.h"

namespace {

using namespace quantd;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Args {
  std::string quantd;
  double seconds = 60;
  int clients = 50;
  int budget_mib = 32;
  int server_threads = 2;
  double idle_seconds = 3;
  int slow_read_ms = 300;
  uint64_t seed = 1;
  double max_rss_factor = 2.5;
  std::string only;        // one behaviour alone (for finding which one costs memory)
  std::string server_log;  // the server's log lines go here (default: --quiet)
};

int Usage() {
  std::fprintf(stderr,
               "usage: soak --quantd PATH [--seconds S] [--clients N] [--budget-mib M] [--server-threads T]\n"
               "            [--idle-seconds S] [--slow-read-ms MS] [--seed N] [--max-rss-factor F] [--only "
               "BEHAVIOUR]\n"
               "            [--server-log FILE]\n");
  return 2;
}

bool Parse(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--quantd")
      a->quantd = v;
    else if (k == "--seconds")
      a->seconds = std::stod(v);
    else if (k == "--clients")
      a->clients = std::stoi(v);
    else if (k == "--budget-mib")
      a->budget_mib = std::stoi(v);
    else if (k == "--server-threads")
      a->server_threads = std::stoi(v);
    else if (k == "--idle-seconds")
      a->idle_seconds = std::stod(v);
    else if (k == "--slow-read-ms")
      a->slow_read_ms = std::stoi(v);
    else if (k == "--seed")
      a->seed = std::stoull(v);
    else if (k == "--max-rss-factor")
      a->max_rss_factor = std::stod(v);
    else if (k == "--only")
      a->only = v;
    else if (k == "--server-log")
      a->server_log = v;
    else
      return false;
  }
  static const std::set<std::string> kBehaviours = {"",       "stream", "slow",       "no-read",
                                                    "broken", "unary",  "dequantize", "hostile"};
  return argc % 2 == 1 && !a->quantd.empty() && a->clients > 0 && a->budget_mib >= 4 &&
         kBehaviours.count(a->only);
}

// --- the server process ----------------------------------------------------------------------

struct ServerProcess {
  pid_t pid = -1;
  int port = 0;
};

// Starts quantd on a free loopback port and reads the port from its first line.
bool StartServer(const Args& a, ServerProcess* s) {
  int out[2];
  if (pipe(out) != 0) return false;
  const std::string budget = std::to_string(uint64_t(a.budget_mib) << 20);
  const std::string threads = std::to_string(a.server_threads);
  std::ostringstream idle;
  idle << a.idle_seconds;
  const std::string idle_s = idle.str();
  std::vector<const char*> argv = {
      a.quantd.c_str(), "--listen", "127.0.0.1:0",          "--threads",    threads.c_str(),
      "--device",       "cpu",      "--max-inflight-bytes", budget.c_str(), "--stream-idle-seconds",
      idle_s.c_str()};
  if (a.server_log.empty()) argv.push_back("--quiet");
  argv.push_back(nullptr);
  s->pid = fork();
  if (s->pid < 0) return false;
  if (s->pid == 0) {
    dup2(out[1], 1);
    if (!a.server_log.empty()) {
      const int log = open(a.server_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) dup2(log, 2);
    }
    close(out[0]);
    close(out[1]);
    execv(argv[0], const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  close(out[1]);
  // Lines before it are allowed (a wrapper such as a heap profiler may print some).
  const std::string prefix = "quantd listening on port ";
  std::string line;
  for (bool more = true; more && line.rfind(prefix, 0) != 0;) {
    line.clear();
    char c;
    while ((more = read(out[0], &c, 1) == 1) && c != '\n') line += c;
  }
  close(out[0]);
  if (line.rfind(prefix, 0) != 0) {
    std::fprintf(stderr, "soak: quantd did not start (no '%s' line)\n", prefix.c_str());
    return false;
  }
  s->port = std::stoi(line.substr(prefix.size()));
  return true;
}

bool Alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

// VmRSS or VmHWM of a process, in bytes (0 when it is gone).
uint64_t ProcKib(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::stoull(line.substr(n + 1)) << 10;
    }
  }
  return 0;
}

// --- the chunks and what the core gives for them ----------------------------------------------

struct PoolChunk {
  ChunkSpec spec;
  std::span<const float> data;
  Encoding expected;
  std::vector<float> decoded;  // DecodeRows(expected), for Dequantize
};

struct Pool {
  std::vector<std::vector<float>> tensors;
  std::vector<PoolChunk> chunks;
  std::vector<PoolChunk> share_chunks;  // one chunk of a whole per-stream share each
};

void AddChunks(Pool* pool, const std::string& tensor, int64_t rows, int64_t cols, int64_t chunk_rows,
               const std::string& method, const Params& params, std::vector<PoolChunk>* into) {
  pool->tensors.push_back(testing::Gaussian(static_cast<size_t>(rows * cols), pool->tensors.size() + 7));
  const std::vector<float>& t = pool->tensors.back();
  for (int64_t r = 0; r < rows; r += chunk_rows) {
    PoolChunk c;
    c.spec = ChunkSpec{.tensor = tensor,
                       .shape = {rows, cols},
                       .dtype = DType::kF32,
                       .row_begin = r,
                       .row_count = chunk_rows,
                       .method = method,
                       .params = params};
    c.data = std::span<const float>(t.data() + r * cols, static_cast<size_t>(chunk_rows * cols));
    into->push_back(std::move(c));
  }
}

// Encodes every chunk in-process: the bytes every server answer must equal.
bool FillExpected(std::vector<PoolChunk>* chunks) {
  for (PoolChunk& c : *chunks) {
    const Chunk chunk{.tensor_name = c.spec.tensor,
                      .shape = c.spec.shape,
                      .row_begin = c.spec.row_begin,
                      .rows = c.spec.row_count,
                      .cols = c.spec.cols(),
                      .data = c.data};
    auto e = EncodeRows(chunk, c.spec.method, c.spec.params);
    if (!e.ok()) {
      std::fprintf(stderr, "soak: in-process %s: %s\n", c.spec.Describe().c_str(),
                   e.status().ToString().c_str());
      return false;
    }
    c.expected = std::move(*e);
    if (c.data.size() <= (size_t{1} << 18)) {
      auto d = DecodeRows(c.expected);
      if (!d.ok()) return false;
      c.decoded = std::move(*d);
    }
  }
  return true;
}

bool MakePool(uint64_t budget, Pool* pool) {
  pool->tensors.reserve(16);  // spans point into these vectors
  // Large chunks for the fast methods (4 MiB each), small ones for the slow methods.
  AddChunks(pool, "big.rtn", 2048, 1024, 1024, "rtn", {{"bits", "4"}}, &pool->chunks);
  AddChunks(pool, "big.crossquant", 2048, 1024, 1024, "crossquant", {}, &pool->chunks);
  AddChunks(pool, "small.rtn", 256, 512, 64, "rtn", {{"bits", "3"}, {"group_size", "32"}}, &pool->chunks);
  AddChunks(pool, "small.kashin", 128, 512, 32, "kashin", {{"bits", "3"}}, &pool->chunks);
  AddChunks(pool, "small.pvq", 128, 512, 32, "pvq", {}, &pool->chunks);
  AddChunks(pool, "small.crossquant", 256, 512, 64, "crossquant", {{"alpha", "0.5"}}, &pool->chunks);
  // Half the budget is the default per-stream share: two of these at once need all of it.
  const int64_t cols = 1024, rows = static_cast<int64_t>(budget / 2 / (cols * 4));
  AddChunks(pool, "share.rtn", 2 * rows, cols, rows, "rtn", {{"bits", "4"}}, &pool->share_chunks);
  return FillExpected(&pool->chunks) && FillExpected(&pool->share_chunks);
}

v1::QuantizeRequest Request(const PoolChunk& c, uint64_t id, size_t begin = 0, size_t end = SIZE_MAX) {
  v1::QuantizeRequest r;
  r.set_chunk_id(id);
  rpc::ToRequestHeader(c.spec, Device::kCpu, &r);
  const char* bytes = reinterpret_cast<const char*>(c.data.data());
  end = std::min(end, c.data.size_bytes());
  r.set_data(bytes + begin, end - begin);
  r.set_data_offset(begin);
  return r;
}

// --- what the clients saw ---------------------------------------------------------------------

struct Tally {
  std::mutex mu;
  std::map<std::string, int64_t> counts;  // "behaviour: outcome" -> how many
  std::vector<std::string> failures;

  void Count(const std::string& what) {
    std::lock_guard<std::mutex> l(mu);
    ++counts[what];
  }
  void Fail(const std::string& what) {
    std::lock_guard<std::mutex> l(mu);
    if (failures.size() < 20) failures.push_back(what);
    ++counts["FAILED"];
  }
};

// gRPC's codes are numerically the core's.
std::string CodeName(grpc::StatusCode c) { return std::string(StatusCodeName(static_cast<StatusCode>(c))); }

class Client {
 public:
  Client(const Args& a, int index, const Pool& pool, std::shared_ptr<grpc::Channel> channel, Tally* tally)
      : args_(a),
        pool_(pool),
        stub_(v1::Quantizer::NewStub(channel)),
        tally_(tally),
        rng_(a.seed * 1000003 + static_cast<uint64_t>(index)) {}

  void Run(Clock::time_point until) {
    static const std::map<std::string, int> kPicks = {{"stream", 0},  {"slow", 35},  {"no-read", 50},
                                                      {"broken", 60}, {"unary", 70}, {"dequantize", 85},
                                                      {"hostile", 97}};
    while (Clock::now() < until) {
      const int pick = args_.only.empty() ? Uniform(100) : kPicks.at(args_.only);
      if (pick < 35)
        Stream("stream", 0);
      else if (pick < 50)
        Stream("slow", args_.slow_read_ms);
      else if (pick < 60)
        NoRead();
      else if (pick < 70)
        Broken();
      else if (pick < 85)
        Unary();
      else if (pick < 97)
        Dequantize();
      else
        Hostile();
    }
  }

 private:
  int Uniform(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  const PoolChunk& AnyChunk() {
    return pool_.chunks[static_cast<size_t>(Uniform(static_cast<int>(pool_.chunks.size())))];
  }

  void CheckAnswer(const std::string& who, const PoolChunk& c, const v1::QuantizeResponse& r) {
    if (r.has_error() && r.error().code() != 0) {
      tally_->Fail(who + ": " + c.spec.Describe() + " failed: " + r.error().message());
      return;
    }
    auto got = rpc::FromProto(r.encoding());
    if (!got.ok() || !(*got == c.expected)) {
      tally_->Fail(who + ": " + c.spec.Describe() + " differs from the in-process encoding");
      return;
    }
    tally_->Count(who + ": chunk identical");
  }

  // Writes `n` chunks from a second thread and reads every answer (after `read_delay_ms` each).
  void Stream(const std::string& who, int read_delay_ms) {
    grpc::ClientContext ctx;
    auto stream = stub_->Quantize(&ctx);
    const int n = 1 + Uniform(6);
    std::vector<const PoolChunk*> sent;
    for (int i = 0; i < n; ++i) sent.push_back(&AnyChunk());
    std::thread writer([&] {
      for (int i = 0; i < n; ++i) {
        if (!stream->Write(Request(*sent[static_cast<size_t>(i)], static_cast<uint64_t>(i)))) break;
      }
      stream->WritesDone();
    });
    v1::QuantizeResponse r;
    int answers = 0;
    while (stream->Read(&r)) {
      if (r.chunk_id() >= sent.size()) {
        tally_->Fail(who + ": answer for unknown chunk " + std::to_string(r.chunk_id()));
      } else {
        CheckAnswer(who, *sent[r.chunk_id()], r);
      }
      ++answers;
      if (read_delay_ms > 0) std::this_thread::sleep_for(milliseconds(read_delay_ms));
    }
    writer.join();
    const grpc::Status s = stream->Finish();
    if (!s.ok() || answers != n) {
      tally_->Fail(who + ": stream ended " + CodeName(s.error_code()) + " '" + s.error_message() +
                   "' after " + std::to_string(answers) + " of " + std::to_string(n) + " answers");
    } else {
      tally_->Count(who + ": stream OK");
    }
  }

  // Writes chunks without ever reading; cancels after 1-4 s unless the server ends it first.
  void NoRead() {
    grpc::ClientContext ctx;
    auto stream = stub_->Quantize(&ctx);
    std::atomic<bool> done{false};
    std::thread writer([&] {
      for (uint64_t i = 0; i < 64 && !done; ++i) {
        if (!stream->Write(Request(AnyChunk(), i))) break;
      }
    });
    const auto until = Clock::now() + milliseconds(1000 + Uniform(3000));
    while (Clock::now() < until) std::this_thread::sleep_for(milliseconds(20));
    done = true;
    ctx.TryCancel();
    writer.join();
    const grpc::Status s = stream->Finish();
    Expect("no-read", s, {grpc::CANCELLED, grpc::DEADLINE_EXCEEDED});
  }

  // The first part of a split chunk, then a cancel, a half-close, or silence.
  void Broken() {
    grpc::ClientContext ctx;
    auto stream = stub_->Quantize(&ctx);
    const PoolChunk& c = AnyChunk();
    stream->Write(Request(c, 1, 0, c.data.size_bytes() / 3));
    const int how = Uniform(3);
    if (how == 0) {
      ctx.TryCancel();
      Expect("broken: cancel", stream->Finish(), {grpc::CANCELLED});
    } else if (how == 1) {
      stream->WritesDone();
      // The chunk never completed: its one answer is an INVALID_ARGUMENT error naming it.
      v1::QuantizeResponse r;
      int errors = 0;
      while (stream->Read(&r)) errors += r.error().code() == grpc::INVALID_ARGUMENT ? 1 : 0;
      const grpc::Status s = stream->Finish();
      if (s.ok() && errors != 1) {
        tally_->Fail("broken: half-close: " + std::to_string(errors) +
                     " error answers for the incomplete chunk");
      } else {
        Expect("broken: half-close", s, {grpc::OK});
      }
    } else {
      v1::QuantizeResponse r;
      while (stream->Read(&r)) {
      }
      Expect("broken: silent", stream->Finish(), {grpc::DEADLINE_EXCEEDED});
    }
  }

  void Unary() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(500 + Uniform(4500)));
    const PoolChunk& c = AnyChunk();
    v1::QuantizeResponse r;
    const bool cancel = Uniform(4) == 0;
    std::thread canceller;
    if (cancel) {
      canceller = std::thread([&ctx] {
        std::this_thread::sleep_for(milliseconds(100));
        ctx.TryCancel();
      });
    }
    const grpc::Status s = stub_->QuantizeChunk(&ctx, Request(c, 1), &r);
    if (canceller.joinable()) canceller.join();
    if (s.ok()) {
      CheckAnswer("unary", c, r);
    } else {
      Expect(cancel ? "unary: cancelled" : "unary", s,
             {grpc::DEADLINE_EXCEEDED, grpc::RESOURCE_EXHAUSTED, grpc::CANCELLED});
    }
  }

  void Dequantize() {
    const PoolChunk* c = nullptr;
    while (c == nullptr || c->decoded.empty()) c = &AnyChunk();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
    v1::DequantizeRequest q;
    rpc::ToProto(c->expected, q.mutable_encoding());
    v1::DequantizeResponse r;
    const grpc::Status s = stub_->Dequantize(&ctx, q, &r);
    if (!s.ok()) {
      Expect("dequantize", s, {grpc::DEADLINE_EXCEEDED, grpc::RESOURCE_EXHAUSTED});
    } else if (r.data().size() != c->decoded.size() * 4 ||
               std::memcmp(r.data().data(), c->decoded.data(), r.data().size()) != 0) {
      tally_->Fail("dequantize: " + c->spec.Describe() + " differs from the in-process decode");
    } else {
      tally_->Count("dequantize: identical");
    }
  }

  // One row of 128 weights, one group, k = 2^16: its counting table would take gigabytes, so it is
  // refused before any table is built.
  void Hostile() {
    static const std::vector<float> row = testing::Gaussian(128, 99);
    PoolChunk c;
    c.spec = ChunkSpec{.tensor = "hostile.pvq",
                       .shape = {1, 128},
                       .dtype = DType::kF32,
                       .row_begin = 0,
                       .row_count = 1,
                       .method = "pvq",
                       .params = {{"group_size", "128"}, {"k", "65536"}}};
    c.data = row;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
    v1::QuantizeResponse r;
    const grpc::Status s = stub_->QuantizeChunk(&ctx, Request(c, 1), &r);
    if (s.ok() && r.has_error() && r.error().code() != 0) {
      const auto code = static_cast<grpc::StatusCode>(r.error().code());
      Expect("hostile", grpc::Status(code, r.error().message()),
             {grpc::INVALID_ARGUMENT, grpc::RESOURCE_EXHAUSTED});
    } else {
      Expect("hostile", s, {grpc::INVALID_ARGUMENT, grpc::RESOURCE_EXHAUSTED, grpc::DEADLINE_EXCEEDED});
    }
  }

  void Expect(const std::string& who, const grpc::Status& s,
              std::initializer_list<grpc::StatusCode> allowed) {
    for (grpc::StatusCode c : allowed) {
      if (s.error_code() == c) {
        tally_->Count(who + ": " + CodeName(c));
        return;
      }
    }
    tally_->Fail(who + ": unexpected " + CodeName(s.error_code()) + " '" + s.error_message() + "'");
  }

  const Args& args_;
  const Pool& pool_;
  std::unique_ptr<v1::Quantizer::Stub> stub_;
  Tally* tally_;
  std::mt19937_64 rng_;
};

// Two streams at once, each with a chunk of a whole per-stream share (sent in 4 MiB parts): both
// fit only when the whole budget is free again.
bool BudgetCameBack(const Pool& pool, const std::shared_ptr<grpc::Channel>& channel, Tally* tally) {
  std::vector<std::thread> streams;
  std::atomic<int> ok{0};
  for (const PoolChunk& c : pool.share_chunks) {
    streams.emplace_back([&, cp = &c] {
      auto stub = v1::Quantizer::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      auto stream = stub->Quantize(&ctx);
      constexpr size_t kPart = size_t{4} << 20;
      for (size_t off = 0; off < cp->data.size_bytes(); off += kPart) {
        if (!stream->Write(Request(*cp, 1, off, off + kPart))) break;
      }
      stream->WritesDone();
      v1::QuantizeResponse r;
      const bool answered = stream->Read(&r);
      const grpc::Status s = stream->Finish();
      auto got = rpc::FromProto(r.encoding());
      if (answered && s.ok() && got.ok() && *got == cp->expected) {
        ++ok;
      } else {
        tally->Fail("final: " + cp->spec.Describe() + ": " + CodeName(s.error_code()) + " " +
                    s.error_message());
      }
    });
  }
  for (auto& t : streams) t.join();
  return ok == static_cast<int>(pool.share_chunks.size());
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!Parse(argc, argv, &a)) return Usage();
  signal(SIGPIPE, SIG_IGN);
  const uint64_t budget = uint64_t(a.budget_mib) << 20;
  Pool pool;
  std::printf("soak: encoding the chunk pool in-process...\n");
  if (!MakePool(budget, &pool)) return 1;

  ServerProcess server;
  if (!StartServer(a, &server)) return 1;
  grpc::ChannelArguments ca;
  ca.SetMaxReceiveMessageSize(-1);
  ca.SetMaxSendMessageSize(-1);

  // The base: the server's RSS after one pass over every pool chunk (code paged in, threads up).
  Tally warm;
  {
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.port),
                                             grpc::InsecureChannelCredentials(), ca);
    auto stub = v1::Quantizer::NewStub(channel);
    for (const PoolChunk& c : pool.chunks) {
      grpc::ClientContext ctx;
      v1::QuantizeResponse r;
      if (!stub->QuantizeChunk(&ctx, Request(c, 1), &r).ok()) warm.Fail("warm-up: " + c.spec.Describe());
    }
  }
  const uint64_t base = ProcKib(server.pid, "VmRSS");
  uint64_t window = 0;
  {
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.port),
                                             grpc::InsecureChannelCredentials(), ca);
    grpc::ClientContext ctx;
    v1::GetInfoResponse info;
    if (!v1::Quantizer::NewStub(channel)->GetInfo(&ctx, {}, &info).ok()) warm.Fail("GetInfo");
    window = info.stream_window_bytes();
    if (info.max_calls() < a.clients + 1) warm.Fail("the server's --max-calls is below --clients + 1");
  }

  std::atomic<uint64_t> peak_sampled{base};
  std::atomic<bool> stop{false};
  std::thread sampler([&] {
    while (!stop) {
      peak_sampled = std::max<uint64_t>(peak_sampled, ProcKib(server.pid, "VmRSS"));
      std::this_thread::sleep_for(milliseconds(20));
    }
  });

  Tally tally;
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::milliseconds(static_cast<int64_t>(a.seconds * 1000));
  std::vector<std::thread> clients;
  for (int i = 0; i < a.clients; ++i) {
    clients.emplace_back([&, i] {
      // One channel per client: separate connections, as separate users have.
      grpc::ChannelArguments own = ca;
      own.SetInt("quantd.soak.client", i);
      auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.port),
                                               grpc::InsecureChannelCredentials(), own);
      Client(a, i, pool, channel, &tally).Run(until);
    });
  }
  for (auto& t : clients) t.join();
  const double ran = std::chrono::duration<double>(Clock::now() - t0).count();
  const bool alive_after_load = Alive(server.pid);
  bool budget_back = false;
  if (alive_after_load) {
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.port),
                                             grpc::InsecureChannelCredentials(), ca);
    budget_back = BudgetCameBack(pool, channel, &tally);
  }
  stop = true;
  sampler.join();
  const uint64_t hwm = ProcKib(server.pid, "VmHWM");
  const uint64_t idle = ProcKib(server.pid, "VmRSS");
  const uint64_t peak = std::max<uint64_t>(peak_sampled, hwm);
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);

  const double mib = 1 << 20;
  const double factor = (static_cast<double>(peak) - static_cast<double>(base)) / static_cast<double>(budget);
  uint64_t largest_message = 0;
  for (const PoolChunk& c : pool.chunks)
    largest_message = std::max<uint64_t>(largest_message, c.data.size_bytes());
  const uint64_t per_call = 2 * largest_message + window;
  const double allowed =
      a.max_rss_factor * static_cast<double>(budget) + static_cast<double>(a.clients * per_call);
  std::printf(
      "soak: %d clients for %.1f s against one quantd (--threads %d, --max-inflight-bytes %d MiB, "
      "--stream-idle-seconds %g)\n",
      a.clients, ran, a.server_threads, a.budget_mib, a.idle_seconds);
  for (const auto& [what, n] : tally.counts)
    std::printf("  %-40s %8lld\n", what.c_str(), static_cast<long long>(n));
  std::printf("server RSS: base %.1f MiB (after warm-up), peak %.1f MiB, after the run %.1f MiB\n",
              base / mib, peak / mib, idle / mib);
  std::printf(
      "peak - base = %.1f MiB = %.2f x budget; bound %.1f x budget + %d calls x %.1f MiB = %.1f MiB\n",
      (static_cast<double>(peak) - static_cast<double>(base)) / mib, factor, a.max_rss_factor, a.clients,
      per_call / mib, allowed / mib);
  bool ok = true;
  for (const std::string& f : warm.failures) std::printf("FAIL %s\n", f.c_str()), ok = false;
  for (const std::string& f : tally.failures) std::printf("FAIL %s\n", f.c_str()), ok = false;
  if (!alive_after_load) std::printf("FAIL the server died\n"), ok = false;
  if (alive_after_load && !budget_back) std::printf("FAIL the budget did not come back\n"), ok = false;
  if (static_cast<double>(peak) - static_cast<double>(base) > allowed) {
    std::printf("FAIL peak RSS above the bound\n");
    ok = false;
  }
  std::printf("soak: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
