// Fetch: the tests' ordinary requests, through the tools' libcurl client.
#include <cstdio>

#include "tests/support/http_test_client.h"

namespace driftwatch::testing {

HttpResponse Fetch(uint16_t port, std::string_view method, std::string_view path,
                   std::string_view body, std::string_view extra_headers) {
  http::HeaderLines headers;
  while (!extra_headers.empty()) {
    const size_t end = extra_headers.find("\r\n");
    if (end != 0) headers.emplace_back(extra_headers.substr(0, end));
    extra_headers.remove_prefix(end == std::string_view::npos ? extra_headers.size() : end + 2);
  }
  // Generous: the suite also runs under the sanitizers.
  http::HttpClient client(http::LoopbackUrl(port),
                          {std::chrono::seconds(30), std::chrono::seconds(60)});
  HttpResponse response;
  if (const Status sent = client.Request(method, path, body, &response, headers); !sent.ok()) {
    std::fprintf(stderr, "Fetch %.*s %.*s: %s\n", static_cast<int>(method.size()), method.data(),
                 static_cast<int>(path.size()), path.data(), sent.message().c_str());
    return HttpResponse{};
  }
  return response;
}

}  // namespace driftwatch::testing
