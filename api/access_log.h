// The access log (server.access_log, off by default): one line per answered request, so an
// operator can see who asks what, and how it went. Never a header's value: no token reaches it.
//   2026-12-06T07:30:00.123Z 127.0.0.1:50312 GET /v1/health/api 200 187 42
//   time (UTC)               peer            method path     status body-bytes microseconds
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftwatch::api {

class AccessLog {
 public:
  // "-" writes to standard output; anything else names a file, appended to (created 0640).
  static Status Open(const std::string& destination, std::unique_ptr<AccessLog>* out);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  struct Entry {
    std::string_view peer;    // "address:port"
    std::string_view method;  // as sent (a token)
    std::string_view path;    // the target's path, as sent (visible ASCII, no query)
    int status = 0;
    uint64_t body_bytes = 0;
    int64_t microseconds = 0;  // from the request's first byte to its answer
  };
  // Thread-safe; a failed write is dropped (the log must never stop the service).
  void Write(const Entry& entry);

 private:
  AccessLog(std::FILE* file, bool owned) : file_(file), owned_(owned) {}
  std::mutex mutex_;
  std::FILE* file_;
  bool owned_;
};

}  // namespace driftwatch::api
