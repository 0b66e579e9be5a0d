// The real `driftwatch` binary for the hardening tests: on a free loopback port, with its database
// (and config file) in a temporary directory, restartable on the same database after a graceful
// stop or a SIGKILL. Get and Post go through tests/support's libcurl Fetch; tests that need exact
// bytes on the wire use its RawConnection.
#pragma once

#include <rapidjson/document.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {

// Generous: the suite also runs under ASan and TSan.
constexpr std::chrono::seconds kPatience{60};

// Parses a body as JSON, refusing invalid UTF-8. Check HasParseError().
rapidjson::Document ParseStrictJson(const std::string& body);

// {"service_id": id, "latency_ms": latency}.
std::string SampleJson(const std::string& service_id, double latency_ms);
// A JSON array of `count` samples of `service_id`, latencies first_latency, first_latency + 1...
std::string BatchJson(const std::string& service_id, int count, double first_latency = 100);

class Service {
 public:
  // `open_file_limit` > 0: the service runs under that limit (ulimit -n), soft and hard.
  explicit Service(std::string config_yaml = "", int open_file_limit = 0);

  // Starts driftwatch (again) on the same database; false with the reason in *error.
  bool Start(std::string* error);
  // SIGTERM, then waits for the exit code (0 expected after a graceful stop).
  int Stop();
  // SIGKILL: no drain, no final commit.
  void Kill();

  uint16_t port() const { return process_->port(); }
  pid_t pid() const { return process_->pid(); }
  ServerProcess& process() { return *process_; }
  const TestDir& dir() const { return dir_; }

  HttpResponse Get(const std::string& path, const std::string& headers = "") const;
  HttpResponse Post(const std::string& path, const std::string& body,
                    const std::string& headers = "") const;

  // GET /v1/system/status, parsed (an empty object if it failed).
  rapidjson::Document Status() const;
  // A service's sample_count, or -1 when it is unknown.
  int64_t SampleCount(const std::string& service_id) const;
  // Waits until the store's row count (refreshed about once a second) is `count`.
  bool WaitForStoredSamples(uint64_t count) const;

  // The process's resident memory now, and its peak, in KiB (from /proc/<pid>/status).
  uint64_t ResidentKiB() const;
  uint64_t PeakResidentKiB() const;

 private:
  TestDir dir_;
  std::string config_path_;
  std::unique_ptr<ServerProcess> process_;
  int open_file_limit_ = 0;
  int runs_ = 0;
};

}  // namespace driftwatch::testing
