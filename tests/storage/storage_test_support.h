// Helpers for the storage tests: the real storage plugins, loaded from their .so files in the
// build tree, opened through driftwatch::Store; and small builders for what a test writes.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/plugin_loader.h"
#include "core/storage.h"

namespace driftwatch::testing {

constexpr double kNoPayload = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kMsPerDay = 24LL * 60 * 60 * 1000;

inline const char* const kServiceA = "checkout-api";
inline const char* const kServiceB = "payments.prod:eu-1";

// The storage backend `name` ("sqlite", "memory", "postgresql") from DRIFTWATCH_TEST_PLUGIN_DIR.
// Plugins are never unloaded, so one registry serves the whole test program.
inline const dw_type_storage* StorageBackend(const std::string& name) {
  static PluginRegistry* registry = new PluginRegistry();
  if (registry->FindStorage(name) == nullptr) {
    const Status status =
        registry->LoadFile(std::string(DRIFTWATCH_TEST_PLUGIN_DIR) + "/" + name + ".so");
    EXPECT_TRUE(status.ok()) << status.message();
  }
  return registry->FindStorage(name);
}

// Names parameterised tests after their backend: ".../sqlite".
inline std::string BackendName(const ::testing::TestParamInfo<std::string>& backend) {
  return backend.param;
}

// The libpq URI of the tests' PostgreSQL server (the ctest fixture `postgres` starts it), or ""
// with a failure when it is not running.
inline std::string PostgresUrl() {
  std::ifstream file(std::string(DRIFTWATCH_TEST_POSTGRES_DIR) + "/url");
  std::string url;
  std::getline(file, url);
  EXPECT_FALSE(url.empty()) << "no test PostgreSQL server: run the tests through ctest (fixture "
                               "postgres), or tests/postgres/postgres_server.sh start "
                            << DRIFTWATCH_TEST_POSTGRES_DIR;
  return url;
}

// A namespace of the test server that belongs to `path` in this process: the same path opens the
// same store again, as a file would.
inline std::string PostgresNamespace(const std::string& path) {
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a
  for (const char c : path) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return "t_" + std::to_string(hash % 1000000000000ULL) + "_" + std::to_string(getpid());
}

// What `backend` needs to open the store named `path`: the path, and for postgresql the test
// server and a namespace of its own.
inline std::vector<Param> StoreParams(const std::string& backend, const std::string& path) {
  std::vector<Param> params = {{"path", path}};
  if (backend == "postgresql") {
    params.push_back({"url", PostgresUrl()});
    params.push_back({"namespace", PostgresNamespace(path)});
  }
  return params;
}

// Opens `backend` on `path`; on failure returns nullptr and the message in *error.
inline std::unique_ptr<Store> OpenStore(const std::string& backend, const std::string& path,
                                        std::string* error = nullptr) {
  const dw_type_storage* vtable = StorageBackend(backend);
  if (vtable == nullptr) return nullptr;
  std::unique_ptr<Store> store;
  const Status status = Store::Open(vtable, StoreParams(backend, path), &store);
  if (error != nullptr) *error = status.message();
  return status.ok() ? std::move(store) : nullptr;
}

inline StoredSample Sample(const std::string& service_id, uint64_t seq, int64_t timestamp_ms,
                           double latency_ms, double payload_kb = kNoPayload) {
  return {std::make_shared<const std::string>(service_id), seq, timestamp_ms, latency_ms,
          payload_kb};
}

// The samples as a plugin receives them, pointing into `samples` (which must outlive them).
inline std::vector<dw_type_stored_sample> RawSamples(const std::vector<StoredSample>& samples) {
  std::vector<dw_type_stored_sample> raw;
  for (const StoredSample& s : samples) {
    raw.push_back({s.service_id->c_str(), s.seq, s.timestamp_ms, s.latency_ms, s.payload_kb});
  }
  return raw;
}

inline StoredEvent Event(const std::string& service_id, uint64_t seq, int64_t timestamp_ms,
                         const std::string& to_state, const std::string& reason) {
  return {
      service_id, seq, timestamp_ms, "STABLE", to_state, reason, "{\"reason\":\"" + reason + "\"}"};
}

inline StoredSnapshot Snapshot(const std::string& service_id, uint64_t last_seq,
                               const std::string& data) {
  return {service_id, last_seq, data};
}

// A new outbox row of `service_id`'s event `event`, for `target`: pending, never tried.
inline StoredNotification Notification(const std::string& service_id, uint64_t event,
                                       const std::string& target, int64_t created_ms) {
  StoredNotification row;
  row.id = service_id + "/" + std::to_string(event);
  row.target = target;
  row.service_id = service_id;
  row.body = R"({"service_id":")" + service_id + R"(","event":)" + std::to_string(event) + "}";
  row.created_ms = created_ms;
  row.updated_ms = created_ms;
  return row;
}

// `row` as an update: delivery state, attempts, when, and why the last attempt failed.
inline StoredNotification Update(StoredNotification row, NotificationState state, uint32_t attempts,
                                 int64_t updated_ms, const std::string& last_error = "") {
  row.state = state;
  row.attempts = attempts;
  row.updated_ms = updated_ms;
  row.last_error = last_error;
  return row;
}

// Every field of an outbox row, to compare rows with EXPECT_EQ and see what differs.
using NotificationFields = std::tuple<std::string, std::string, std::string, std::string, int64_t,
                                      int32_t, uint32_t, int64_t, std::string>;
inline std::vector<NotificationFields> Fields(const std::vector<StoredNotification>& rows) {
  std::vector<NotificationFields> fields;
  for (const StoredNotification& n : rows) {
    fields.emplace_back(n.id, n.target, n.service_id, n.body, n.created_ms,
                        static_cast<int32_t>(n.state), n.attempts, n.updated_ms, n.last_error);
  }
  return fields;
}

inline std::vector<StoredNotification> ReadNotifications(
    Store& store, const Store::NotificationFilter& filter = {}) {
  std::vector<StoredNotification> rows;
  const Status status =
      store.ScanNotifications(filter, [&](StoredNotification&& row) { rows.push_back(row); });
  EXPECT_TRUE(status.ok()) << status.message();
  return rows;
}

// Samples seq first..last of one service, a millisecond apart from `start_ms`, with latencies
// that need every bit of a double.
inline std::vector<StoredSample> Samples(const std::string& service_id, uint64_t first,
                                         uint64_t last, int64_t start_ms) {
  const ServiceId id = std::make_shared<const std::string>(service_id);
  std::vector<StoredSample> samples;
  for (uint64_t seq = first; seq <= last; ++seq) {
    const double latency = 100.0 + static_cast<double>(seq) / 3.0;
    const double payload = seq % 3 == 0 ? kNoPayload : 2.45 + static_cast<double>(seq) * 1e-7;
    samples.push_back({id, seq, start_ms + static_cast<int64_t>(seq), latency, payload});
  }
  return samples;
}

inline std::vector<StoredSample> ReadSamples(Store& store, const std::string& service_id,
                                             uint64_t after_seq = 0) {
  std::vector<StoredSample> samples;
  const Status status = store.ScanSamples(service_id, after_seq,
                                          [&](const StoredSample& s) { samples.push_back(s); });
  EXPECT_TRUE(status.ok()) << status.message();
  return samples;
}

struct ScannedService {
  std::string service_id;
  bool has_snapshot = false;
  uint64_t snapshot_seq = 0;
  std::string snapshot_data;
  uint64_t max_seq = 0;
};

inline std::vector<ScannedService> ReadServices(Store& store) {
  std::vector<ScannedService> services;
  const Status status = store.ScanServices(
      [&](const std::string& id, const StoredSnapshot* snapshot, uint64_t max_seq) {
        ScannedService service;
        service.service_id = id;
        service.has_snapshot = snapshot != nullptr;
        if (snapshot != nullptr) {
          service.snapshot_seq = snapshot->last_seq;
          service.snapshot_data = snapshot->data;
        }
        service.max_seq = max_seq;
        services.push_back(service);
      });
  EXPECT_TRUE(status.ok()) << status.message();
  return services;
}

inline StoreStats ReadStats(Store& store) {
  StoreStats stats;
  const Status status = store.Stats(&stats);
  EXPECT_TRUE(status.ok()) << status.message();
  return stats;
}

// Bit-for-bit equality (NaN equals NaN): a replay must see exactly the doubles that were stored.
inline bool SameDouble(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

// The seqs of `samples`, in order; the seqs first..last.
inline std::vector<uint64_t> Seqs(const std::vector<StoredSample>& samples) {
  std::vector<uint64_t> seqs;
  for (const auto& sample : samples) seqs.push_back(sample.seq);
  return seqs;
}
inline std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

}  // namespace driftwatch::testing
