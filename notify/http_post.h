// One HTTP POST of a notification, on libcurl: TLS, proxies from the environment (http_proxy,
// https_proxy, no_proxy), a total timeout, and an abort flag so that stopping never waits for a
// hung target. Errors are values; none of them quotes the URL (it may carry a secret).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch::notify {

struct PostRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // beside Content-Type: JSON
  std::string body;
};

struct PostResult {
  int status = 0;     // 0: no answer (see error)
  std::string error;  // why there was no answer, or a short excerpt of a refusal's body
  std::optional<std::chrono::seconds> retry_after;  // the answer's Retry-After, if any
};

// Calls curl_global_init once; call before starting threads (the sender does).
void InitCurl();

PostResult Post(const PostRequest& request, std::chrono::milliseconds timeout,
                const std::atomic<bool>& abort);

}  // namespace driftwatch::notify
