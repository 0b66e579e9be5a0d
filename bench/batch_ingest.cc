// batch_ingest: end-to-end batch ingest against a running DriftWatch, from the first byte sent to
// the last sample committed in its store.
//
//   batch_ingest --url http://127.0.0.1:PORT --samples N --services S [--batch 1000]
//                [--connections 2] [--format json|otlp] [--endpoints 0] [--first-row 0]
//
// Sends the rows of bench_rows.h as POST /v1/telemetry/batch bodies (built before the clock
// starts) over `connections` keep-alive connections; a 503 (queue full) is retried after a pause
// that starts at 1 ms and doubles with each 503 in a row, up to 64 ms, as a client that backs off
// does (a fixed 1 ms made the server parse refused requests again and again while its writer
// caught up, so a run measured mostly that; docs/performance.md, section 12).
// With --format otlp the same rows go as OTLP protobuf to POST /v1/traces instead: each request
// an ExportTraceServiceRequest of `batch` SERVER spans, grouped by service as an SDK or Collector
// groups them (one ResourceSpans per service), each span's latency and end time the row's.
// "Committed" is read from GET /v1/system/status: every sample processed, nothing queued and
// nothing waiting for the storage writer (storage_pending_samples counts samples handed to the
// writer and not yet in a successful commit). The store's own row count (total_telemetry_records)
// is refreshed by the service once a second, so it is checked too but only reported.
// With --endpoints E (JSON only) each row also names one of E endpoints of its service, in turn
// ("GET /api/e0" ...), for a server with series.per_endpoint: true.
// --first-row N starts at row N of the sequence, as if an earlier run had sent rows 0 .. N-1: a
// second run against the same server goes on where the first stopped, timestamps still rising.
// Prints one JSON object.
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <otlp.pb.h>

#include <map>

#include "bench/bench_rows.h"
#include "core/timestamp.h"
#include "http_client/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using driftwatch::http::HttpClient;
using driftwatch::http::HttpResponse;

constexpr int64_t kOneHourMs = 3600 * 1000;
constexpr auto kFirstRetryPause = std::chrono::milliseconds(1);
constexpr auto kLongestRetryPause = std::chrono::milliseconds(64);
constexpr auto kStatusPollPause = std::chrono::milliseconds(1);
constexpr auto kCommitTimeout = std::chrono::seconds(120);
constexpr auto kStoreCountTimeout = std::chrono::seconds(10);

struct Options {
  driftwatch::http::Url url;
  uint64_t samples = 0;
  uint32_t services = 0;
  uint32_t batch = 1000;
  uint32_t connections = 2;
  bool otlp = false;
  uint32_t endpoints = 0;  // endpoints per service named by the rows (0: none)
  uint64_t first_row = 0;  // the rows before it are not sent (an earlier run sent them)
};

// The rows from options.first_row on.
driftwatch::bench::RowGenerator FirstRow(const Options& options) {
  driftwatch::bench::RowGenerator rows(options.services, driftwatch::NowMs() - kOneHourMs);
  for (uint64_t skipped = 0; skipped < options.first_row; ++skipped) rows.Next();
  return rows;
}

// The same rows as BuildBodies, as OTLP protobuf: latency and end time to the nanosecond, the
// payload as http.response.body.size in bytes.
std::vector<std::string> BuildOtlpBodies(const Options& options) {
  namespace pb = driftwatch::otlp;
  constexpr int64_t kNanosPerMs = 1000000;
  driftwatch::bench::RowGenerator rows = FirstRow(options);
  std::vector<std::string> bodies;
  for (uint64_t done = 0; done < options.samples;) {
    pb::ExportTraceServiceRequest request;
    std::map<uint32_t, pb::ScopeSpans*> by_service;
    for (uint32_t i = 0; i < options.batch && done < options.samples; ++i, ++done) {
      const driftwatch::bench::BenchRow row = rows.Next();
      pb::ScopeSpans*& scope = by_service[row.service];
      if (scope == nullptr) {
        pb::ResourceSpans* resource_spans = request.add_resource_spans();
        pb::KeyValue* name = resource_spans->mutable_resource()->add_attributes();
        name->set_key("service.name");
        name->mutable_value()->set_string_value(driftwatch::bench::ServiceName(row.service));
        scope = resource_spans->add_scope_spans();
      }
      pb::Span* span = scope->add_spans();
      span->set_trace_id(std::string(16, '\x01'));
      span->set_span_id(std::string(8, '\x02'));
      span->set_name("GET /items");
      span->set_kind(pb::Span::SPAN_KIND_SERVER);
      const auto end = static_cast<uint64_t>(row.timestamp_ms * kNanosPerMs);
      span->set_end_time_unix_nano(end);
      span->set_start_time_unix_nano(end -
                                     static_cast<uint64_t>(std::llround(row.latency_ms * 1e6)));
      pb::KeyValue* size = span->add_attributes();
      size->set_key("http.response.body.size");
      size->mutable_value()->set_int_value(std::llround(row.payload_kb * 1024));
    }
    bodies.push_back(request.SerializeAsString());
  }
  return bodies;
}

std::vector<std::string> BuildBodies(const Options& options) {
  driftwatch::bench::RowGenerator rows = FirstRow(options);
  std::vector<std::string> names;
  for (uint32_t i = 0; i < options.services; ++i)
    names.push_back(driftwatch::bench::ServiceName(i));
  std::vector<std::string> bodies;
  char item[320];
  char endpoint[48] = "";
  const uint64_t end = options.first_row + options.samples;
  for (uint64_t done = options.first_row; done < end;) {
    std::string body = "[";
    for (uint32_t i = 0; i < options.batch && done < end; ++i, ++done) {
      const driftwatch::bench::BenchRow row = rows.Next();
      if (options.endpoints > 0) {
        std::snprintf(endpoint, sizeof endpoint, ",\"endpoint\":\"GET /api/e%u\"",
                      static_cast<unsigned>(done / options.services % options.endpoints));
      }
      std::snprintf(item, sizeof item,
                    "%s{\"service_id\":\"%s\",\"latency_ms\":%.3f,\"payload_kb\":%.3f,"
                    "\"timestamp\":\"%s\"%s}",
                    i == 0 ? "" : ",", names[row.service].c_str(), row.latency_ms, row.payload_kb,
                    driftwatch::FormatTimestamp(row.timestamp_ms).c_str(), endpoint);
      body += item;
    }
    body += "]";
    bodies.push_back(std::move(body));
  }
  return bodies;
}

struct StatusCounters {
  bool ok = false;
  uint64_t processed = 0;
  uint64_t queue_depth = 0;
  uint64_t storage_pending = 0;
  uint64_t stored = 0;  // total_telemetry_records (refreshed once a second)
};

StatusCounters ReadStatus(HttpClient& connection) {
  StatusCounters counters;
  HttpResponse response;
  rapidjson::Document json;
  if (!connection.Get("/v1/system/status", &response).ok() || response.status != 200 ||
      json.Parse(response.body.c_str()).HasParseError()) {
    return counters;
  }
  auto number = [&json](const char* key) -> uint64_t {
    return json.HasMember(key) && json[key].IsUint64() ? json[key].GetUint64() : 0;
  };
  counters.ok = true;
  counters.processed = number("samples_processed");
  counters.queue_depth = number("queue_depth");
  counters.storage_pending = number("storage_pending_samples");
  counters.stored = number("total_telemetry_records");
  return counters;
}

int Usage() {
  std::fprintf(stderr,
               "usage: batch_ingest --url http://127.0.0.1:PORT --samples N --services S "
               "[--batch N] [--connections N] [--format json|otlp] [--endpoints N] "
               "[--first-row N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string url;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--url") {
      url = value;
    } else if (flag == "--samples") {
      options.samples = std::strtoull(value, nullptr, 10);
    } else if (flag == "--services") {
      options.services = static_cast<uint32_t>(std::strtoul(value, nullptr, 10));
    } else if (flag == "--batch") {
      options.batch = static_cast<uint32_t>(std::strtoul(value, nullptr, 10));
    } else if (flag == "--connections") {
      options.connections = static_cast<uint32_t>(std::strtoul(value, nullptr, 10));
    } else if (flag == "--format" &&
               (std::string_view(value) == "json" || std::string_view(value) == "otlp")) {
      options.otlp = std::string_view(value) == "otlp";
    } else if (flag == "--endpoints") {
      options.endpoints = static_cast<uint32_t>(std::strtoul(value, nullptr, 10));
    } else if (flag == "--first-row") {
      options.first_row = std::strtoull(value, nullptr, 10);
    } else {
      return Usage();
    }
  }
  if (argc % 2 == 0 || !driftwatch::http::ParseUrl(url, &options.url).ok() ||
      options.samples == 0 || options.services == 0 || options.batch == 0 ||
      options.connections == 0 || (options.otlp && options.endpoints > 0)) {
    return Usage();
  }

  const std::vector<std::string> bodies =
      options.otlp ? BuildOtlpBodies(options) : BuildBodies(options);
  const char* const path = options.otlp ? "/v1/traces" : "/v1/telemetry/batch";
  const int accepted = options.otlp ? 200 : 202;
  const driftwatch::http::HeaderLines headers = {
      options.otlp ? "Content-Type: application/x-protobuf" : "Content-Type: application/json"};
  HttpClient status_connection(options.url);
  const StatusCounters before = ReadStatus(status_connection);
  if (!before.ok) {
    std::fprintf(stderr, "batch_ingest: no answer from %s/v1/system/status\n", url.c_str());
    return 1;
  }

  std::atomic<size_t> next_body{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<bool> failed{false};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> senders;
  for (uint32_t c = 0; c < options.connections; ++c) {
    senders.emplace_back([&] {
      HttpClient connection(options.url);
      for (size_t index = next_body++; index < bodies.size() && !failed; index = next_body++) {
        for (auto pause = kFirstRetryPause;; pause = std::min(2 * pause, kLongestRetryPause)) {
          HttpResponse response;
          if (const driftwatch::Status sent =
                  connection.Post(path, bodies[index], &response, headers);
              !sent.ok()) {
            std::fprintf(stderr, "batch_ingest: %s\n", sent.message().c_str());
            failed = true;
            return;
          }
          if (response.status == accepted) break;
          if (response.status == 503) {
            ++retries;
            std::this_thread::sleep_for(pause);
            continue;
          }
          std::fprintf(stderr, "batch_ingest: HTTP %d: %s\n", response.status,
                       response.body.c_str());
          failed = true;
          return;
        }
      }
    });
  }
  for (std::thread& sender : senders) sender.join();
  if (failed) return 1;
  const Clock::time_point sent = Clock::now();

  const uint64_t target = before.processed + options.samples;
  StatusCounters now;
  for (;;) {
    now = ReadStatus(status_connection);
    if (now.ok && now.processed >= target && now.queue_depth == 0 && now.storage_pending == 0) {
      break;
    }
    if (Clock::now() - start > kCommitTimeout) {
      std::fprintf(stderr, "batch_ingest: not committed after %lld s\n",
                   static_cast<long long>(kCommitTimeout.count()));
      return 1;
    }
    std::this_thread::sleep_for(kStatusPollPause);
  }
  const Clock::time_point committed = Clock::now();
  const uint64_t stored_target = before.stored + options.samples;
  while (now.stored < stored_target && Clock::now() - committed < kStoreCountTimeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    now = ReadStatus(status_connection);
  }
  const Clock::time_point counted = Clock::now();

  auto seconds = [start](Clock::time_point t) {
    return std::chrono::duration<double>(t - start).count();
  };
  std::printf(
      "{\"format\":\"%s\",\"samples\":%llu,\"services\":%u,\"batch\":%u,\"connections\":%u,"
      "\"seconds_sent\":%.6f,"
      "\"seconds_committed\":%.6f,\"samples_per_second\":%.1f,\"retries_503\":%llu,"
      "\"store_count_reached\":%s,\"seconds_store_count\":%.3f}\n",
      options.otlp ? "otlp" : "json", static_cast<unsigned long long>(options.samples),
      options.services, options.batch, options.connections, seconds(sent), seconds(committed),
      static_cast<double>(options.samples) / seconds(committed),
      static_cast<unsigned long long>(retries.load()),
      now.stored >= stored_target ? "true" : "false", seconds(counted));
  return 0;
}
