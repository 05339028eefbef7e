// quantd on loopback against the in-process core, in the same run, on the same chunks.
//
// Streams a set of large F32 tensors as 4 MiB chunks (configurable) through a quantd server
// started in this process (one Quantize stream, --window chunks in flight), and encodes the same
// chunks in-process with the same number of threads. Prints MB/s of F32 input for both, their
// ratio, and the server's peak budget use against its configured budget.
//
//   build/bin/service_bench [--method rtn] [--params bits=4] [--chunk-mib 4] [--tensors 4]
//                           [--rows 4096] [--cols 4096] [--threads 1,2] [--window 8]
//                           [--stream-window-bytes N]  (the server's; 0: gRPC's automatic sizing)
#include <grpcpp/grpcpp.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/convert.h"
#include "quantd/core/quantize.h"
#include "server/quantd_server.h"
#include "tests/testing/random_tensors.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace quantd;

struct Args {
  std::string method = "rtn";
  std::string params = "bits=4";
  int chunk_mib = 4;
  int tensors = 4;
  int64_t rows = 4096, cols = 4096;
  std::vector<int> threads = {1, 2};
  int window = 8;
  int64_t stream_window_bytes = -1;  // the server's --stream-window-bytes; -1: its default
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--method")
      a.method = v;
    else if (k == "--params")
      a.params = v;
    else if (k == "--chunk-mib")
      a.chunk_mib = std::stoi(v);
    else if (k == "--tensors")
      a.tensors = std::stoi(v);
    else if (k == "--rows")
      a.rows = std::stoll(v);
    else if (k == "--cols")
      a.cols = std::stoll(v);
    else if (k == "--window")
      a.window = std::stoi(v);
    else if (k == "--stream-window-bytes")
      a.stream_window_bytes = std::stoll(v);
    else if (k == "--threads") {
      a.threads.clear();
      std::stringstream ss(v);
      std::string t;
      while (std::getline(ss, t, ',')) a.threads.push_back(std::stoi(t));
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  auto params = Params::Parse(a.params);
  if (!params.ok()) {
    std::fprintf(stderr, "%s\n", params.status().ToString().c_str());
    return 2;
  }
  std::vector<std::vector<float>> tensors;
  for (int t = 0; t < a.tensors; ++t) tensors.push_back(testing::HeavyTailedMatrix(a.rows, a.cols, 100 + t));
  const int64_t rows_per_chunk = std::max<int64_t>(1, (int64_t{a.chunk_mib} << 20) / (a.cols * 4));
  const std::vector<int64_t> shape = {a.rows, a.cols};
  const double mb = static_cast<double>(a.tensors) * a.rows * a.cols * 4 / 1e6;
  std::printf("%s %s, %d tensors of %lldx%lld F32 (%.0f MB), chunks of %lld rows (%.1f MiB), window %d\n",
              a.method.c_str(), a.params.c_str(), a.tensors, static_cast<long long>(a.rows),
              static_cast<long long>(a.cols), mb, static_cast<long long>(rows_per_chunk),
              rows_per_chunk * a.cols * 4 / 1048576.0, a.window);
  std::printf(
      "| threads | in-process MB/s | quantd MB/s | ratio | server peak budget use / budget "
      "|\n|---|---|---|---|---|\n");
  for (int threads : a.threads) {
    // In-process: the same chunks, encoded and measured, one after another on `threads` threads.
    tbb::task_arena arena(threads);
    auto t0 = Clock::now();
    arena.execute([&] {
      for (const auto& w : tensors) {
        for (int64_t r = 0; r < a.rows; r += rows_per_chunk) {
          const int64_t n = std::min(rows_per_chunk, a.rows - r);
          Chunk b{.tensor_name = "t",
                  .shape = shape,
                  .row_begin = r,
                  .rows = n,
                  .cols = a.cols,
                  .data = std::span<const float>(w.data() + r * a.cols, n * a.cols)};
          auto e = EncodeAndMeasure(b, a.method, *params);
          if (!e.ok()) std::abort();
        }
      }
    });
    const double local_s = std::chrono::duration<double>(Clock::now() - t0).count();

    // Through quantd on loopback.
    server::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = threads;
    o.max_inflight_bytes = uint64_t{256} << 20;
    if (a.stream_window_bytes >= 0) o.stream_window_bytes = static_cast<uint64_t>(a.stream_window_bytes);
    o.quiet = true;
    auto srv = server::QuantdServer::Start(o);
    if (!srv.ok()) return 1;
    grpc::ChannelArguments ca;
    ca.SetMaxReceiveMessageSize(-1);
    auto stub = v1::Quantizer::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string((*srv)->port()), grpc::InsecureChannelCredentials(), ca));
    std::vector<v1::QuantizeRequest> reqs;
    uint64_t id = 0;
    for (size_t t = 0; t < tensors.size(); ++t) {
      for (int64_t r = 0; r < a.rows; r += rows_per_chunk) {
        const int64_t n = std::min(rows_per_chunk, a.rows - r);
        v1::QuantizeRequest q;
        q.set_chunk_id(id++);
        q.set_tensor_name("t" + std::to_string(t));
        q.add_shape(a.rows);
        q.add_shape(a.cols);
        q.set_dtype(v1::F32);
        q.set_row_begin(r);
        q.set_row_count(n);
        rpc::ToProto(a.method, *params, q.mutable_params());
        q.set_data(reinterpret_cast<const char*>(tensors[t].data() + r * a.cols), n * a.cols * 4);
        reqs.push_back(std::move(q));
      }
    }
    grpc::ClientContext ctx;
    t0 = Clock::now();
    auto stream = stub->Quantize(&ctx);
    std::atomic<int64_t> answered{0};
    std::mutex mu;
    std::condition_variable cv;
    std::thread reader([&] {
      v1::QuantizeResponse r;
      while (stream->Read(&r)) {
        if (r.has_error()) std::abort();
        answered++;
        cv.notify_all();
      }
    });
    for (size_t i = 0; i < reqs.size(); ++i) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return static_cast<int64_t>(i) - answered.load() < a.window; });
      lock.unlock();
      stream->Write(reqs[i]);
    }
    stream->WritesDone();
    reader.join();
    if (!stream->Finish().ok()) return 1;
    const double remote_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("| %d | %.0f | %.0f | %.2f | %.1f MiB / %.0f MiB |\n", threads, mb / local_s, mb / remote_s,
                local_s / remote_s, (*srv)->service().budget().peak() / 1048576.0,
                o.max_inflight_bytes / 1048576.0);
    (*srv)->Shutdown(1);
  }
  return 0;
}
