#include "tests/hardening/service.h"

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace driftwatch::testing {
namespace {

// "VmRSS:    1234 kB" -> 1234; 0 if the field is missing.
uint64_t StatusField(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
  }
  return 0;
}

}  // namespace

rapidjson::Document ParseStrictJson(const std::string& body) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  return document;
}

std::string SampleJson(const std::string& service_id, double latency_ms) {
  char latency[64];
  std::snprintf(latency, sizeof latency, "%.17g", latency_ms);
  return R"({"service_id":")" + service_id + R"(","latency_ms":)" + latency + "}";
}

std::string BatchJson(const std::string& service_id, int count, double first_latency) {
  std::string json = "[";
  for (int i = 0; i < count; ++i) {
    json += (i == 0 ? "" : ",") + SampleJson(service_id, first_latency + i);
  }
  return json + "]";
}

Service::Service(std::string config_yaml, int open_file_limit) : open_file_limit_(open_file_limit) {
  if (!config_yaml.empty()) {
    config_path_ = dir_.File("config.yaml");
    std::ofstream(config_path_) << config_yaml;
  }
}

bool Service::Start(std::string* error) {
  const std::string output = dir_.File("driftwatch" + std::to_string(runs_++));
  std::vector<std::string> args;
  if (open_file_limit_ > 0) {
    // The shell sets the limit, then becomes the service (same process, same pid).
    process_ = std::make_unique<ServerProcess>(output, "/bin/sh");
    args = {"-c", "ulimit -n " + std::to_string(open_file_limit_) + " && exec \"$0\" \"$@\"",
            DriftwatchBinary()};
  } else {
    process_ = std::make_unique<ServerProcess>(output);
  }
  args.insert(args.end(),
              {"--host", "127.0.0.1", "--port", "0", "--db", dir_.File("driftwatch.db")});
  if (!config_path_.empty()) {
    args.push_back("--config");
    args.push_back(config_path_);
  }
  return process_->Start(args, error);
}

int Service::Stop() {
  process_->Signal(SIGTERM);
  const std::optional<int> code = process_->WaitForExit();
  return code.value_or(-1);
}

void Service::Kill() {
  process_->Signal(SIGKILL);
  process_->WaitForExit();
}

HttpResponse Service::Get(const std::string& path, const std::string& headers) const {
  return Fetch(port(), "GET", path, "", headers);
}

HttpResponse Service::Post(const std::string& path, const std::string& body,
                           const std::string& headers) const {
  return Fetch(port(), "POST", path, body, headers);
}

rapidjson::Document Service::Status() const {
  rapidjson::Document status = ParseStrictJson(Get("/v1/system/status").body);
  if (status.HasParseError() || !status.IsObject()) status.SetObject();
  return status;
}

int64_t Service::SampleCount(const std::string& service_id) const {
  const HttpResponse response = Get("/v1/health/" + service_id);
  if (response.status != 200) return -1;
  const rapidjson::Document health = ParseStrictJson(response.body);
  if (health.HasParseError() || !health.IsObject() || !health.HasMember("sample_count")) return -1;
  return health["sample_count"].GetInt64();
}

bool Service::WaitForStoredSamples(uint64_t count) const {
  return Eventually(
      [&] {
        const rapidjson::Document status = Status();
        return status.HasMember("total_telemetry_records") &&
               status["total_telemetry_records"].IsUint64() &&
               status["total_telemetry_records"].GetUint64() == count;
      },
      kPatience);
}

uint64_t Service::ResidentKiB() const { return StatusField(pid(), "VmRSS"); }
uint64_t Service::PeakResidentKiB() const { return StatusField(pid(), "VmHWM"); }

}  // namespace driftwatch::testing
