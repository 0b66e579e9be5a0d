// The host's side of the storage ABI: an opened storage backend with a C++ interface.
#pragma once

#include <driftwatch/plugin.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/detector.h"
#include "core/status.h"

namespace driftwatch {

struct StoredEvent {
  std::string service_id;
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  std::string from_state;
  std::string to_state;
  std::string reason;
  std::string metadata_json;
};

struct StoredSnapshot {
  std::string service_id;
  uint64_t last_seq = 0;
  std::string data;
};

// What one commit writes. Sample service ids point into strings owned by the engine's service
// table, which live as long as the process (services are never forgotten while it runs).
struct WriteBatch {
  std::vector<dw_type_stored_sample> samples;
  std::vector<StoredEvent> events;
  std::vector<StoredSnapshot> snapshots;

  bool empty() const { return samples.empty() && events.empty() && snapshots.empty(); }
  void Append(WriteBatch&& other);
  void Clear();
};

class Store {
 public:
  // Opens the backend with its parameters (e.g. {"path", "driftwatch.db"}); on failure returns the
  // backend's message.
  static Status Open(const dw_type_storage* vtable, const std::vector<Param>& params,
                     std::unique_ptr<Store>* out);
  ~Store();  // closes the backend
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::string_view name() const { return vtable_->name; }
  std::string_view version() const { return vtable_->version; }

  Status Write(const WriteBatch& batch);
  // `snapshot` is nullptr for a service with samples but no snapshot.
  Status ScanServices(
      const std::function<void(const std::string& service_id, const StoredSnapshot* snapshot,
                               uint64_t max_seq)>& visit);
  Status ScanSamples(const std::string& service_id, uint64_t after_seq,
                     const std::function<void(const dw_type_stored_sample&)>& visit);
  // Newest first, at most `limit`.
  Status QueryEvents(const std::string& service_id, uint32_t limit, std::vector<StoredEvent>* out);
  Status Stats(dw_type_storage_stats* out);
  Status Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows,
               uint64_t* deleted);

 private:
  Store(const dw_type_storage* vtable, void* handle) : vtable_(vtable), handle_(handle) {}
  const dw_type_storage* vtable_;
  void* handle_;
};

}  // namespace driftwatch
