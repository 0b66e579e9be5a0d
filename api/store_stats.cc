#include "api/store_stats.h"

namespace driftwatch::api {

StoreStatsPoller::StoreStatsPoller(Store* store, std::chrono::milliseconds interval)
    : store_(store), interval_(interval) {
  Poll();
  thread_ = std::thread([this] { Run(); });
}

StoreStatsPoller::~StoreStatsPoller() { Stop(); }

void StoreStatsPoller::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool StoreStatsPoller::Latest(StoreStats* out) const {
  std::lock_guard lock(mutex_);
  if (!have_stats_) return false;
  *out = stats_;
  return true;
}

void StoreStatsPoller::Poll() {
  StoreStats stats;
  if (!store_->Stats(&stats).ok()) return;  // keep the last good answer
  std::lock_guard lock(mutex_);
  stats_ = stats;
  have_stats_ = true;
}

void StoreStatsPoller::Run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    Poll();
    lock.lock();
  }
}

}  // namespace driftwatch::api
