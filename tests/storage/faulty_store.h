// A storage backend for tests that need a store to misbehave on cue: the memory plugin behind a
// switch that fails writes (as a full disk does, or with another code), a list of services whose
// data it refuses for good (as a constraint does), and gates that hold a write or a purge until
// the test lets it go. Built into the test (sdk::StorageType<FaultyStore>), not loaded from a file.
#pragma once

#include <driftwatch/plugin.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "tests/storage/storage_test_support.h"

namespace driftwatch::testing {

// What a FaultyStore does wrong, set by the test while the store runs on the writer's thread.
struct StoreFaults {
  std::atomic<bool> fail_writes{false};  // a write throws "disk full (injected)"...
  std::atomic<dw_type_status> fail_status{DW_STATUS_IO_ERROR};  // ...with this code
  std::atomic<int> write_attempts{0};
  // > 0: every write from this attempt on (counting from 1) fails like fail_writes.
  std::atomic<int> fail_from_attempt{0};
  // Guarded by `mutex`; `changed` is notified whenever one of them changes.
  std::mutex mutex;
  std::condition_variable changed;
  // A write that holds a sample, event or snapshot of one of these fails, all of it, with
  // DW_STATUS_INVALID_ARGUMENT, every time: a permanent refusal of that service's data.
  std::set<std::string> refused_services;
  bool hold_writes = false;    // a write waits at its gate while this is true
  bool write_waiting = false;  // a write is waiting at its gate
  bool hold_purge = false;     // likewise for a purge
  bool purge_waiting = false;
};

// The faults of the FaultyStore the current test opened (one at a time).
inline StoreFaults* g_store_faults = nullptr;

class FaultyStore {
 public:
  static constexpr const char* kName = "faulty";
  static constexpr const char* kVersion = "1.0.0";

  static FaultyStore* Open(sdk::Params& params) {
    params.Finish();
    auto store = std::make_unique<FaultyStore>();
    dw_type_error error{};
    if (Inner()->on_open(nullptr, 0, &store->inner_, &error) != DW_STATUS_OK) {
      throw sdk::StorageError(DW_STATUS_ERROR, error.message);
    }
    return store.release();
  }
  FaultyStore() = default;
  ~FaultyStore() {
    if (inner_ != nullptr) Inner()->on_close(inner_);
  }
  FaultyStore(const FaultyStore&) = delete;
  FaultyStore& operator=(const FaultyStore&) = delete;

  void Write(const dw_type_write_batch& batch) {
    const int attempt = ++g_store_faults->write_attempts;
    WaitAtGate(&StoreFaults::hold_writes, &StoreFaults::write_waiting);
    const int fail_from = g_store_faults->fail_from_attempt;
    if (g_store_faults->fail_writes || (fail_from > 0 && attempt >= fail_from)) {
      throw sdk::StorageError(g_store_faults->fail_status, "disk full (injected)");
    }
    if (const char* refused = RefusedService(batch)) {
      throw sdk::StorageError(DW_STATUS_INVALID_ARGUMENT,
                              std::string("data of '") + refused + "' refused (injected)");
    }
    Check(Inner()->on_write(inner_, &batch, &error_));
  }
  // Fails like a write while writes fail (a forget is a write).
  void Forget(const char* service_id) {
    if (g_store_faults->fail_writes) {
      throw sdk::StorageError(g_store_faults->fail_status, "disk full (injected)");
    }
    Check(Inner()->on_forget(inner_, service_id, &error_));
  }
  void ScanServices(dw_type_service_callback callback, void* context) {
    Check(Inner()->on_scan_services(inner_, callback, context, &error_));
  }
  void ScanSamples(const char* id, uint64_t after, dw_type_sample_callback callback,
                   void* context) {
    Check(Inner()->on_scan_samples(inner_, id, after, callback, context, &error_));
  }
  void QueryEvents(const char* id, uint32_t limit, dw_type_event_callback callback, void* context) {
    Check(Inner()->on_query_events(inner_, id, limit, callback, context, &error_));
  }
  void Stats(dw_type_storage_stats& stats) { Check(Inner()->on_stats(inner_, &stats, &error_)); }
  uint64_t Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows) {
    WaitAtGate(&StoreFaults::hold_purge, &StoreFaults::purge_waiting);
    uint64_t deleted = 0;
    Check(Inner()->on_purge(inner_, samples_before_ms, events_before_ms, max_rows, &deleted,
                            &error_));
    return deleted;
  }

 private:
  static const dw_type_storage* Inner() { return StorageBackend("memory"); }

  // The first service of the batch whose data is refused, or nullptr.
  static const char* RefusedService(const dw_type_write_batch& batch) {
    StoreFaults& faults = *g_store_faults;
    std::lock_guard<std::mutex> lock(faults.mutex);
    if (faults.refused_services.empty()) return nullptr;
    const auto refused = [&](const char* id) { return faults.refused_services.contains(id); };
    for (size_t i = 0; i < batch.sample_count; ++i) {
      if (refused(batch.samples[i].service_id)) return batch.samples[i].service_id;
    }
    for (size_t i = 0; i < batch.event_count; ++i) {
      if (refused(batch.events[i].service_id)) return batch.events[i].service_id;
    }
    for (size_t i = 0; i < batch.snapshot_count; ++i) {
      if (refused(batch.snapshots[i].service_id)) return batch.snapshots[i].service_id;
    }
    return nullptr;
  }

  // Waits while the test holds this gate, saying so through `waiting`.
  static void WaitAtGate(bool StoreFaults::*hold, bool StoreFaults::*waiting) {
    StoreFaults& faults = *g_store_faults;
    std::unique_lock<std::mutex> lock(faults.mutex);
    faults.*waiting = faults.*hold;
    faults.changed.notify_all();
    faults.changed.wait(lock, [&] { return !(faults.*hold); });
    faults.*waiting = false;
  }

  void Check(dw_type_status status) {
    if (status != DW_STATUS_OK) throw sdk::StorageError(status, error_.message);
  }

  void* inner_ = nullptr;
  dw_type_error error_{};
};

}  // namespace driftwatch::testing
