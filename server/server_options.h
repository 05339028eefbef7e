// File: server_options.h
//
// quantd's configuration, one field per command-line flag (main.cc), with the defaults the
// flags document. Manifests and scripts use the flag names: they are a public interface.
#ifndef QUANTD_SERVER_SERVER_OPTIONS_H_
#define QUANTD_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "quantd/core/device.h"

namespace quantd::server {

struct ServerOptions {
  std::string listen = "0.0.0.0:50051";      // --listen HOST:PORT (port 0 picks a free port)
  int threads = 0;                           // --threads: encoding threads; 0 = all cores
  uint64_t max_inflight_bytes = 1ull << 30;  // --max-inflight-bytes: chunk and blob bytes held at once
  uint64_t max_message_bytes = 64ull << 20;  // --max-message-bytes: largest message received
  Device device = Device::kAuto;             // --device auto|cpu|cuda (cuda: refuse to start without a GPU)
  std::string tls_cert;                      // --tls-cert PEM file (enables TLS)
  std::string tls_key;                       // --tls-key PEM file
  std::string tls_client_ca;                 // --tls-client-ca PEM file (requires client certs: mTLS)
  std::string token_file;                    // --token-file: require "authorization: Bearer <token>"
  std::string health_listen;                 // --health-listen HOST:PORT: plaintext health-only port
  std::string metrics_listen;                // --metrics-listen HOST:PORT: Prometheus /metrics
  double grace_seconds = 30;                 // --grace-seconds: drain time after SIGTERM/SIGINT
  std::string name;                          // --name: how responses and logs identify this server
  int debug_chunk_delay_ms = 0;              // --debug-chunk-delay-ms: slow every chunk (failure tests)
  bool quiet = false;                        // --quiet: no log lines on stderr
  uint64_t max_stream_bytes = 0;  // --max-stream-bytes: budget one stream or call may hold; 0 = half
  int max_calls = 64;             // --max-calls: streams and unary calls open at once
  uint64_t stream_window_bytes = 1u << 20;  // --stream-window-bytes: HTTP/2 receive window per call
  double stream_idle_seconds = 60;          // --stream-idle-seconds: a stream holding budget this long
                                            //   without progress is ended (DEADLINE_EXCEEDED); 0 = never
};

}  // namespace quantd::server

#endif  // QUANTD_SERVER_SERVER_OPTIONS_H_
