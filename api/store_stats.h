// Keeps the store's statistics (row counts, size) fresh on a thread of its own, so that
// GET /v1/system/status never waits for the disk on a request thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/storage.h"

namespace driftwatch::api {

class StoreStatsPoller {
 public:
  // `store` must outlive the poller. Reads once before returning, then every `interval`.
  StoreStatsPoller(Store* store, std::chrono::milliseconds interval);
  ~StoreStatsPoller();  // Stop()
  StoreStatsPoller(const StoreStatsPoller&) = delete;
  StoreStatsPoller& operator=(const StoreStatsPoller&) = delete;

  // The latest statistics; false if the store has not answered yet.
  bool Latest(StoreStats* out) const;
  void Stop();

 private:
  void Poll();
  void Run();

  Store* store_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;    // guarded by mutex_
  bool have_stats_ = false;  // guarded by mutex_
  StoreStats stats_;         // guarded by mutex_
  std::thread thread_;
};

}  // namespace driftwatch::api
