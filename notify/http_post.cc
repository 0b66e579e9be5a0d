#include "notify/http_post.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <string_view>

namespace driftwatch::notify {
namespace {

constexpr size_t kKeptBodyBytes = 200;  // of an error answer, for last_error

struct Answer {
  std::string body;
  std::optional<std::chrono::seconds> retry_after;
};

size_t KeepBody(char* data, size_t size, size_t count, void* user) {
  auto* answer = static_cast<Answer*>(user);
  const size_t bytes = size * count;
  const size_t room = kKeptBodyBytes - std::min(kKeptBodyBytes, answer->body.size());
  answer->body.append(data, std::min(bytes, room));
  return bytes;
}

// Retry-After: delay-seconds or an HTTP-date.
size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* answer = static_cast<Answer*>(user);
  const size_t bytes = size * count;
  std::string_view line(data, bytes);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string name(line.substr(0, kName.size()));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == kName) {
      std::string value(line.substr(kName.size()));
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t\r\n") + 1);
      if (!value.empty() && std::all_of(value.begin(), value.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; })) {
        answer->retry_after = std::chrono::seconds(std::stoll(value.substr(0, 9)));
      } else if (const time_t at = curl_getdate(value.c_str(), nullptr); at > 0) {
        answer->retry_after = std::chrono::seconds(std::max<time_t>(0, at - time(nullptr)));
      }
    }
  }
  return bytes;
}

int CheckAbort(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

}  // namespace

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

PostResult Post(const PostRequest& request, std::chrono::milliseconds timeout,
                const std::atomic<bool>& abort) {
  PostResult result;
  const std::unique_ptr<CURL, void (*)(CURL*)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (easy == nullptr) {
    result.error = "cannot create an HTTP request (out of memory?)";
    return result;
  }
  curl_slist* raw = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [name, value] : request.headers) {
    raw = curl_slist_append(raw, (name + ": " + value).c_str());
  }
  raw = curl_slist_append(raw, "Expect:");  // no 100-continue round trip
  const std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(raw, &curl_slist_free_all);
  Answer answer;
  char error[CURL_ERROR_SIZE] = {};
  CURL* handle = easy.get();
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // sender threads: no SIGALRM
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &KeepBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &ReadHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, &CheckAbort);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&abort));
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    result.error = code == CURLE_OPERATION_TIMEDOUT
                       ? "timed out after " + std::to_string(timeout.count() / 1000) + " s"
                       : (error[0] != '\0' ? error : curl_easy_strerror(code));
    return result;
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  result.retry_after = answer.retry_after;
  if (status < 200 || status > 299) {
    result.error = "HTTP " + std::to_string(status);
    if (!answer.body.empty()) result.error += ": " + answer.body;
  }
  return result;
}

}  // namespace driftwatch::notify
