// The base URL an HttpClient talks to: http://HOST[:PORT][/PATH], parsed from what a user typed
// (driftwatch-sim --url, the benchmarks' --url) with messages that quote it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftwatch::http {

// HOST may be a name, an IPv4 address or a bracketed IPv6 address.
struct Url {
  std::string host;         // without brackets
  std::string port = "80";  // decimal
  std::string path;         // "" or "/prefix", never with a trailing '/'

  // "http://host:port", as used in messages.
  std::string Origin() const;
};

// Fills *url, or says what is wrong with `text` (only http:// is supported).
Status ParseUrl(std::string_view text, Url* url);

// http://127.0.0.1:PORT, for the benchmarks and tests that start the service on loopback.
Url LoopbackUrl(uint16_t port);

}  // namespace driftwatch::http
