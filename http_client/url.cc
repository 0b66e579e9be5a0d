#include "http_client/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

namespace driftwatch::http {
namespace {

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

}  // namespace

std::string Url::Origin() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + port;
}

Status ParseUrl(std::string_view text, Url* url) {
  constexpr std::string_view kScheme = "http://";
  if (Lower(text.substr(0, kScheme.size())) != kScheme) {
    return Status::Error("unsupported URL '" + std::string(text) +
                         "': it must start with http:// (https is not supported)");
  }
  std::string_view rest = text.substr(kScheme.size());
  const size_t path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);

  Url parsed;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::Error("invalid URL '" + std::string(text) + "': unclosed '['");
    }
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Status::Error("invalid URL '" + std::string(text) + "': text after ']'");
      }
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) {
    return Status::Error("invalid URL '" + std::string(text) + "': no host");
  }
  if (parsed.host.find('@') != std::string::npos) {
    return Status::Error("invalid URL '" + std::string(text) + "': user info is not supported");
  }
  if (!port.empty() || authority.back() == ':') {
    int number = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || number < 1 ||
        number > 65535) {
      return Status::Error("invalid URL '" + std::string(text) + "': bad port '" +
                           std::string(port) + "'");
    }
    parsed.port = std::to_string(number);
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return Status::Error("invalid URL '" + std::string(text) + "': no query or fragment allowed");
  }
  parsed.path = std::string(path);
  *url = std::move(parsed);
  return Status::Ok();
}

Url LoopbackUrl(uint16_t port) {
  Url url;
  url.host = "127.0.0.1";
  url.port = std::to_string(port);
  return url;
}

}  // namespace driftwatch::http
