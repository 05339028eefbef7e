#include "client/remote/server_list.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace quantd::client {
namespace {

// Splits "host:port" / "[v6]:port"; INVALID_ARGUMENT when malformed.
Status SplitHostPort(const std::string& addr, std::string* host, std::string* port) {
  size_t colon;
  if (!addr.empty() && addr[0] == '[') {
    const size_t close = addr.find(']');
    if (close == std::string::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return InvalidArgumentError("--servers entry '" + addr + "': expected [IPv6]:PORT");
    }
    *host = addr.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = addr.rfind(':');
    if (colon == std::string::npos)
      return InvalidArgumentError("--servers entry '" + addr + "' has no :PORT");
    *host = addr.substr(0, colon);
    if (host->find(':') != std::string::npos) {
      return InvalidArgumentError("--servers entry '" + addr + "': write IPv6 addresses as [ADDR]:PORT");
    }
  }
  *port = addr.substr(colon + 1);
  if (host->empty()) return InvalidArgumentError("--servers entry '" + addr + "' has an empty host");
  if (port->empty() || port->size() > 5 || !std::all_of(port->begin(), port->end(), ::isdigit) ||
      std::stoi(*port) == 0 || std::stoi(*port) > 65535) {
    return InvalidArgumentError("--servers entry '" + addr + "': port must be 1..65535");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<std::string>> ResolveServers(const std::string& list) {
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  };
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(pos, comma - pos);
    pos = comma + 1;
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) return InvalidArgumentError("--servers has an empty entry");
    const std::string dns = "dns:///";
    std::string host, port;
    if (item.rfind(dns, 0) == 0) {
      QUANTD_RETURN_IF_ERROR(SplitHostPort(item.substr(dns.size()), &host, &port));
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
      if (rc != 0)
        return UnavailableError("--servers entry '" + item + "': cannot resolve " + host + ": " +
                                gai_strerror(rc));
      for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
        char buf[INET6_ADDRSTRLEN];
        if (a->ai_family == AF_INET) {
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, buf, sizeof(buf));
          add(std::string(buf) + ":" + port);
        } else if (a->ai_family == AF_INET6) {
          inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, buf, sizeof(buf));
          add("[" + std::string(buf) + "]:" + port);
        }
      }
      freeaddrinfo(res);
    } else if (item.find("://") != std::string::npos) {
      return InvalidArgumentError("--servers entry '" + item +
                                  "': only HOST:PORT and dns:///NAME:PORT are supported");
    } else {
      QUANTD_RETURN_IF_ERROR(SplitHostPort(item, &host, &port));
      add(item);
    }
    if (comma == list.size()) break;
  }
  if (out.empty()) return InvalidArgumentError("--servers is empty");
  return out;
}

}  // namespace quantd::client
