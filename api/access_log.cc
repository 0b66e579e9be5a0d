#include "api/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace driftwatch::api {

Status AccessLog::Open(const std::string& destination, std::unique_ptr<AccessLog>* out) {
  if (destination == "-") {
    out->reset(new AccessLog(stdout, false));
    return Status::Ok();
  }
  const int fd = ::open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  std::FILE* file = fd < 0 ? nullptr : ::fdopen(fd, "a");
  if (file == nullptr) {
    const std::string reason = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return Status::Error("cannot open the access log '" + destination + "': " + reason);
  }
  std::setvbuf(file, nullptr, _IOLBF, 0);  // a line reaches the file when it is written
  out->reset(new AccessLog(file, true));
  return Status::Ok();
}

AccessLog::~AccessLog() {
  if (owned_) std::fclose(file_);
}

void AccessLog::Write(const Entry& entry) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char time_text[32];
  std::strftime(time_text, sizeof time_text, "%Y-%m-%dT%H:%M:%S", &utc);

  std::lock_guard<std::mutex> lock(mutex_);
  std::fprintf(file_, "%s.%03dZ %.*s %.*s %.*s %d %llu %lld\n", time_text, static_cast<int>(millis),
               static_cast<int>(entry.peer.size()), entry.peer.data(),
               static_cast<int>(entry.method.size()), entry.method.data(),
               static_cast<int>(entry.path.size()), entry.path.data(), entry.status,
               static_cast<unsigned long long>(entry.body_bytes),
               static_cast<long long>(entry.microseconds));
  if (!owned_) std::fflush(file_);
}

}  // namespace driftwatch::api
