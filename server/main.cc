// quantd: the quantization server. See server_options.h for the flags, README.md for usage.
// Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when it cannot start, 2 usage error.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "quantd/core/device.h"
#include "server/log.h"
#include "server/quantd_server.h"

int main(int argc, char** argv) {
  using quantd::server::ServerOptions;
  ServerOptions o;
  CLI::App app{"quantd: quantizes tensor chunks over gRPC (service quantd.v1.Quantizer)"};
  app.set_version_flag("--version", "quantd " QUANTD_VERSION);
  app.add_option("--listen", o.listen, "HOST:PORT to serve gRPC on (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "encoding threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option(
         "--max-inflight-bytes", o.max_inflight_bytes,
         "memory budget: bytes of chunks and calibration blobs held at once; streams pause when it is full")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 46));
  app.add_option("--max-message-bytes", o.max_message_bytes, "largest gRPC message accepted")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1} << 16, uint64_t{2047} << 20));
  std::string device = "auto";
  app.add_option(
         "--device", device,
         "where chunks are encoded: auto (the GPU for large chunks of methods with a CUDA encoder, when "
         "there is one), cpu (never a GPU), cuda (like auto, but refuse to start without a GPU)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--tls-cert", o.tls_cert, "PEM certificate chain; enables TLS on --listen");
  app.add_option("--tls-key", o.tls_key, "PEM private key for --tls-cert");
  app.add_option("--tls-client-ca", o.tls_client_ca,
                 "PEM CA bundle; requires and verifies client certificates (mTLS)");
  app.add_option(
      "--token-file", o.token_file,
      "file holding a bearer token; quantd.v1.Quantizer RPCs without 'authorization: Bearer <token>' get "
      "UNAUTHENTICATED (the gRPC health and reflection services stay open, for probes and tools); without "
      "TLS "
      "the token travels in cleartext");
  app.add_option(
      "--health-listen", o.health_listen,
      "HOST:PORT for a plaintext server with only the gRPC health service (probes when --listen uses TLS)");
  app.add_option("--metrics-listen", o.metrics_listen, "HOST:PORT for the Prometheus /metrics endpoint");
  app.add_option("--grace-seconds", o.grace_seconds,
                 "after SIGTERM/SIGINT: time for open streams to finish their in-flight chunks")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--name", o.name, "how this server names itself in responses and logs (default: --listen)");
  app.add_option(
         "--debug-chunk-delay-ms", o.debug_chunk_delay_ms,
         "testing only: sleep this long before encoding each streamed chunk (to exercise failures mid-run)")
      ->check(CLI::Range(0, 60000))
      ->group("Testing");
  app.add_flag("--quiet", o.quiet, "no log lines on stderr");
  app.add_option("--max-stream-bytes", o.max_stream_bytes,
                 "bytes of the memory budget one stream or call may hold, which bounds its largest chunk "
                 "(0: half of --max-inflight-bytes); a stream at its share stops reading until its answers "
                 "are written")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 46));
  app.add_option("--max-calls", o.max_calls,
                 "Quantize streams and QuantizeChunk/Dequantize calls open at once; more are refused with "
                 "RESOURCE_EXHAUSTED (each may hold one received message and --stream-window-bytes outside "
                 "the budget)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--stream-window-bytes", o.stream_window_bytes,
                 "HTTP/2 receive window of each call: bytes a client may send ahead of what quantd has read "
                 "(0: gRPC's automatic sizing, which lets clients that are not read from fill memory)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
  app.add_option("--stream-idle-seconds", o.stream_idle_seconds,
                 "a stream that holds budget bytes and neither sends nor reads for this long is ended with "
                 "DEADLINE_EXCEEDED (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "quantd: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  o.device = *quantd::ParseDevice(device);  // one of the three names, checked by the parser
  if (o.device == quantd::Device::kCuda && quantd::CudaDevices().empty()) {
    std::cerr << "quantd: --device cuda: "
              << (quantd::BuiltWithCuda() ? "no usable CUDA device" : "this build has no CUDA backend")
              << "\n";
    return 1;
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto server = quantd::server::QuantdServer::Start(o);
  if (!server.ok()) {
    std::cerr << "quantd: " << server.status().ToString() << "\n";
    return 1;
  }
  std::cout << "quantd listening on port " << (*server)->port() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  quantd::server::LogLine(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  (*server)->Shutdown(o.grace_seconds);
  (*server)->Wait();
  return 0;
}
