// File: server_list.h
//
// Parsing `--servers ADDR[,ADDR...]` into backends. ADDR is HOST:PORT ("10.0.0.5:50051",
// "quantd-0:50051", "[::1]:50051"), or dns:///NAME:PORT, which is resolved now and gives one
// backend per address (a Kubernetes headless Service lists one address per pod).
#ifndef QUANTD_CLIENT_REMOTE_SERVER_LIST_H_
#define QUANTD_CLIENT_REMOTE_SERVER_LIST_H_

#include <string>
#include <vector>

#include "quantd/core/status.h"

namespace quantd::client {

// Splits and checks the list; INVALID_ARGUMENT naming the bad entry (missing or non-numeric port,
// empty host, unknown scheme). dns:/// entries are resolved with getaddrinfo; a name that does
// not resolve is UNAVAILABLE. Duplicates are removed; order is kept.
StatusOr<std::vector<std::string>> ResolveServers(const std::string& list);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_REMOTE_SERVER_LIST_H_
