#include "api/http_response.h"

#include <charconv>
#include <chrono>
#include <ctime>

namespace driftwatch::api {
namespace {

// /docs is one self-contained page: inline style and nothing else.
constexpr std::string_view kHtmlPolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

void AppendNumber(uint64_t value, std::string* out) {
  char digits[24];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out->append(digits, end);
}

void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

}  // namespace

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

std::string_view HttpDateNow() {
  thread_local std::time_t made_for = -1;
  thread_local char text[32];
  thread_local size_t length = 0;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (now != made_for) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    // strftime's %a and %b are locale-dependent; the service never changes its locale from "C".
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    made_for = now;
  }
  return {text, length};
}

void WriteAnswer(const Reply& reply, const AnswerShape& shape, std::string* out) {
  out->reserve(out->size() + 256 + (shape.head ? 0 : reply.body.size()));
  out->append("HTTP/1.1 ");
  AppendNumber(static_cast<uint64_t>(reply.status), out);
  out->push_back(' ');
  out->append(ReasonPhrase(reply.status));
  out->append("\r\n");
  AppendHeader("Date", HttpDateNow(), out);
  AppendHeader("Content-Type", reply.content_type, out);
  out->append("Content-Length: ");
  AppendNumber(reply.body.size(), out);
  out->append("\r\n");
  AppendHeader("Connection", shape.keep_alive ? "Keep-Alive" : "Close", out);
  AppendHeader("X-Content-Type-Options", "nosniff", out);
  if (!reply.security_policy.empty()) {
    AppendHeader("Content-Security-Policy", reply.security_policy, out);
  } else if (reply.content_type.starts_with("text/html")) {
    AppendHeader("Content-Security-Policy", kHtmlPolicy, out);
  }
  if (!reply.location.empty()) AppendHeader("Location", reply.location, out);
  if (reply.no_cache) AppendHeader("Cache-Control", "no-cache", out);
  if (reply.retry_after_seconds > 0) {
    out->append("Retry-After: ");
    AppendNumber(reply.retry_after_seconds, out);
    out->append("\r\n");
  }
  if (reply.challenge) AppendHeader("WWW-Authenticate", "Bearer realm=\"driftwatch\"", out);
  if (!reply.allow.empty()) {
    out->append("Allow: ");
    for (size_t i = 0; i < reply.allow.size(); ++i) {
      if (i > 0) out->append(", ");
      out->append(reply.allow[i]);
    }
    out->append("\r\n");
  }
  out->append("\r\n");
  if (!shape.head) out->append(reply.body);
}

}  // namespace driftwatch::api
