#include "http_client/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

namespace driftwatch::http {
namespace {

// An answer bigger than this is refused: the tools read JSON documents, never bulk data.
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

// curl_global_init must run before the first handle, and only once: a function-local static is
// initialised exactly once even when clients start on many threads together. It is never undone:
// curl_global_cleanup is not thread-safe, and the process's end frees everything anyway.
CURLcode GlobalInit() {
  static const CURLcode result = curl_global_init(CURL_GLOBAL_DEFAULT);
  return result;
}

char LowerChar(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), LowerChar);
  return lower;
}

bool SameName(std::string_view a, std::string_view b) {
  const auto same = [](char x, char y) { return LowerChar(x) == LowerChar(y); };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same);
}

// The name of a "Name: value" line (libcurl also takes "Name;" for an empty value).
std::string_view NameOf(std::string_view line) { return line.substr(0, line.find_first_of(":;")); }

// A message starting in lower case and without its final period, to read well inside a sentence.
std::string InSentence(std::string text) {
  if (!text.empty()) text[0] = LowerChar(text[0]);
  while (!text.empty() && (text.back() == '\n' || text.back() == '.')) text.pop_back();
  return text;
}

struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, ListDeleter>;

// What one curl_easy_perform did, filled by the callbacks and curl_easy_getinfo.
struct Attempt {
  CURLcode code = CURLE_OK;
  HttpResponse response;
  bool connected = false;  // a connection was opened or reused, and the request went out on it
  bool body_too_large = false;
  long connects = 0;      // connections this attempt opened
  long header_bytes = 0;  // bytes of answer headers received
  long os_errno = 0;
  std::string detail;  // libcurl's own message
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* attempt = static_cast<Attempt*>(user);
  const size_t bytes = size * count;
  if (attempt->response.body.size() + bytes > kMaxBodyBytes) {
    attempt->body_too_large = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  attempt->response.body.append(data, bytes);
  return bytes;
}

// Called once the connection is there, just before the request is sent.
int Connected(void* user, char* /*remote_ip*/, char* /*local_ip*/, int /*remote_port*/,
              int /*local_port*/) {
  static_cast<Attempt*>(user)->connected = true;
  return CURL_PREREQFUNC_OK;
}

bool SendsBody(std::string_view method, std::string_view body) {
  return !body.empty() || method == "POST" || method == "PUT";
}

// One request on `easy`, whose connection cache holds the kept-alive connection.
Status Perform(CURL* easy, const HttpTimeouts& timeouts, std::string_view method,
               const std::string& url, std::string_view body,
               const std::vector<std::string>& header_lines, Attempt* attempt) {
  curl_slist* lines = nullptr;
  for (const std::string& line : header_lines) {
    curl_slist* longer = curl_slist_append(lines, line.c_str());
    if (longer == nullptr) {
      curl_slist_free_all(lines);
      return Status::Error("out of memory for an HTTP request's headers");
    }
    lines = longer;
  }
  const HeaderList list(lines);
  const std::string custom(method);
  char error[CURL_ERROR_SIZE] = "";

  // Every option is set anew for each request: reset forgets the last one's method and body, and
  // keeps the open connection.
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(easy, CURLOPT_PROXY, "");  // always straight to the server, whatever the env
  curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);   // the path as given: "/../" stays
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);     // no SIGALRM: clients run on many threads
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);  // small requests, one at a time
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts.total.count()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, attempt);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, &Connected);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, attempt);
  if (method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (SendsBody(method, body)) {
    // Never a null pointer: with none, libcurl would read the body from stdin.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    if (method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, custom.c_str());
  } else if (method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, custom.c_str());
  }

  attempt->code = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &attempt->connects);
  curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &attempt->header_bytes);
  curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &attempt->os_errno);
  attempt->detail = error[0] != '\0' ? error : curl_easy_strerror(attempt->code);
  if (attempt->code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    attempt->response.status = static_cast<int>(status);
    // The final answer's own headers (not those of a 100 Continue before it), in order.
    curl_header* header = nullptr;
    while ((header = curl_easy_nextheader(easy, CURLH_HEADER, -1, header)) != nullptr) {
      attempt->response.headers.emplace_back(Lower(header->name), header->value);
    }
  }
  // The handle must not keep pointers into this frame (the header list, the error buffer).
  curl_easy_reset(easy);
  return Status::Ok();
}

// Why `attempt` got no answer, for a user: what to check when it never reached the server.
Status Failure(const Url& base, const HttpTimeouts& timeouts, const Attempt& attempt) {
  const std::string origin = base.Origin();
  const auto ms = [](std::chrono::milliseconds duration) {
    return std::to_string(duration.count()) + " ms";
  };
  if (!attempt.connected) {
    const std::string prefix = "cannot connect to " + origin + ": ";
    if (attempt.code == CURLE_COULDNT_RESOLVE_HOST) {
      return Status::Error(prefix + "cannot resolve '" + base.host + "'");
    }
    std::string reason;
    if (attempt.code == CURLE_OPERATION_TIMEDOUT) {
      reason = "timed out after " + ms(std::min(timeouts.connect, timeouts.total));
    } else if (attempt.os_errno != 0) {
      reason = InSentence(std::strerror(static_cast<int>(attempt.os_errno)));
    } else {
      reason = InSentence(attempt.detail);
    }
    return Status::Error(prefix + reason + " — is driftwatch running?");
  }
  switch (attempt.code) {
    case CURLE_OPERATION_TIMEDOUT:
      if (attempt.header_bytes == 0) {
        return Status::Error("no answer from " + origin + " within " + ms(timeouts.total));
      }
      return Status::Error("the answer from " + origin + " took more than " + ms(timeouts.total));
    case CURLE_GOT_NOTHING:
      return Status::Error(origin + " closed the connection before answering");
    case CURLE_PARTIAL_FILE:
      return Status::Error(origin + " closed the connection in the middle of its answer");
    case CURLE_WRITE_ERROR:
      if (attempt.body_too_large) {
        return Status::Error("the answer from " + origin + " is larger than " +
                             std::to_string(kMaxBodyBytes / (1024 * 1024)) + " MiB");
      }
      break;
    default:
      break;
  }
  const std::string reason =
      attempt.os_errno != 0 ? std::strerror(static_cast<int>(attempt.os_errno)) : attempt.detail;
  return Status::Error("the request to " + origin + " failed: " + InSentence(reason));
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return value;
  }
  return std::nullopt;
}

HttpClient::HttpClient(Url base, HttpTimeouts timeouts)
    : base_(std::move(base)), prefix_(base_.Origin() + base_.path), timeouts_(timeouts) {
  if (GlobalInit() == CURLE_OK) easy_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);  // closes the kept-alive connection
}

Status HttpClient::Request(std::string_view method, std::string_view path, std::string_view body,
                           HttpResponse* response, const HeaderLines& headers) {
  if (easy_ == nullptr) return Status::Error("cannot start libcurl (curl_easy_init failed)");
  std::vector<std::string> lines;
  // "Expect:" keeps libcurl from asking for 100 Continue before a large body: one round trip
  // less, and the same request on the wire whatever its size.
  for (const std::string_view own : {"Accept: application/json", "Connection: keep-alive",
                                     "Expect:", "Content-Type: application/json"}) {
    if (own.starts_with("Content-Type") && !SendsBody(method, body)) continue;
    const auto replaces = [&](const std::string& given) {
      return SameName(NameOf(given), NameOf(own));
    };
    if (std::none_of(headers.begin(), headers.end(), replaces)) lines.emplace_back(own);
  }
  lines.insert(lines.end(), headers.begin(), headers.end());

  const std::string url = prefix_ + std::string(path);
  for (int number = 1;; ++number) {
    Attempt attempt;
    if (Status performed = Perform(easy_, timeouts_, method, url, body, lines, &attempt);
        !performed.ok()) {
      return performed;
    }
    connections_opened_ += static_cast<int>(attempt.connects);
    if (attempt.code == CURLE_OK) {
      *response = std::move(attempt.response);
      return Status::Ok();
    }
    // A reused connection that the server closed before answering at all never took the request
    // in: send it once more, on a new connection. libcurl retries most of these by itself; this
    // also catches a reset.
    const bool reused = attempt.connected && attempt.connects == 0;
    if (reused && attempt.header_bytes == 0 && number == 1) continue;
    return Failure(base_, timeouts_, attempt);
  }
}

}  // namespace driftwatch::http
