#include "core/storage_writer.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/thread_name.h"

namespace driftwatch {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A backlog this large is committed at once instead of at the end of the commit interval.
constexpr size_t kEagerCommitSamples = 20000;
// Retention first runs this soon after Start (or after one purge interval, if that is shorter).
constexpr milliseconds kFirstPurgeDelay{5000};
constexpr double kMsPerDay = 24.0 * 60 * 60 * 1000;

int64_t NowEpochMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StorageWriter::StorageWriter(Store* store, StorageWriterOptions options)
    : store_(store), options_(options) {}

StorageWriter::~StorageWriter() { Stop(); }

void StorageWriter::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  next_purge_ = Clock::now() + std::min(kFirstPurgeDelay, milliseconds(options_.purge_interval_ms));
  thread_ = std::thread([this] {
    NameThisThread("dw-writer");
    Run();
  });
}

bool StorageWriter::Stop(std::chrono::milliseconds deadline) {
  const auto give_up_at = Clock::now() + deadline;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();

  // The thread is gone: commit what is left from here, retrying until the deadline.
  std::unique_lock<std::mutex> lock(mutex_);
  while (!pending_.empty() || !in_flight_.empty()) {
    if (CommitPending(lock)) continue;
    const auto now = Clock::now();
    if (now >= give_up_at) {
      // Whoever waits for these commits must not wait forever (a later Stop may still make them).
      std::vector<CommitCallback> abandoned;
      abandoned.swap(in_flight_callbacks_);
      for (CommitCallback& callback : pending_callbacks_) abandoned.push_back(std::move(callback));
      pending_callbacks_.clear();
      Report(std::move(abandoned), false, lock);
      return false;
    }
    wake_.wait_until(lock, std::min(now + milliseconds(options_.retry_interval_ms), give_up_at),
                     [] { return false; });
  }
  return true;
}

uint64_t StorageWriter::Submit(WriteBatch&& batch, CommitCallback on_committed) {
  const size_t samples = batch.samples.size();
  uint64_t ticket = 0;
  bool wake = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    ticket = ++submitted_ticket_;
    if (batch.empty() && pending_.empty() && in_flight_.empty()) {
      committed_ticket_ = ticket;  // nothing to write and nothing before it waits
      committed_.notify_all();
      lock.unlock();
      if (on_committed) on_committed(true);
      return ticket;
    }
    // Wake the writer only to arm its commit deadline (nothing was pending), to commit early, or
    // for someone waiting: any other wake-up is a context switch that finds nothing to do.
    wake = pending_.empty() || waiters_ > 0 || on_committed ||
           pending_samples_.load(std::memory_order_relaxed) + samples >= kEagerCommitSamples;
    pending_.Append(std::move(batch));
    pending_samples_.fetch_add(samples, std::memory_order_relaxed);
    if (on_committed) pending_callbacks_.push_back(std::move(on_committed));
  }
  if (wake) wake_.notify_one();
  return ticket;
}

bool StorageWriter::WaitCommitted(uint64_t ticket, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  ++waiters_;
  wake_.notify_one();
  const bool done = committed_.wait_for(lock, timeout, [&] { return committed_ticket_ >= ticket; });
  --waiters_;
  return done;
}

bool StorageWriter::Flush(std::chrono::milliseconds timeout) {
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ticket = submitted_ticket_;
  }
  return WaitCommitted(ticket, timeout);
}

std::string StorageWriter::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

std::vector<StoredEvent> StorageWriter::PendingEvents(const std::string& service_id) const {
  std::vector<StoredEvent> events;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const WriteBatch* batch : {&in_flight_, &pending_}) {  // in flight is the older
    for (const StoredEvent& event : batch->events) {
      if (event.service_id == service_id) events.push_back(event);
    }
  }
  return events;
}

void StorageWriter::Run() {
  const milliseconds commit_interval(options_.commit_interval_ms);
  const milliseconds retry_interval(options_.retry_interval_ms);
  Clock::time_point next_commit = Clock::now();
  Clock::time_point retry_at = next_commit;
  bool purging = false;  // a retention pass is under way, one step between commits
  int64_t samples_before_ms = 0;
  int64_t events_before_ms = 0;

  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    if (!in_flight_.empty()) {  // the last commit failed: retry the same batch, after a pause
      if (now < retry_at) {
        wake_.wait_until(lock, retry_at, [this] { return stopping_; });
      } else if (!CommitPending(lock)) {
        retry_at = Clock::now() + retry_interval;
      }
      continue;
    }
    // Someone waits for a commit: commit now (what arrives meanwhile joins the next commit).
    const bool urgent = waiters_ > 0 || !pending_callbacks_.empty() ||
                        pending_samples_.load() >= kEagerCommitSamples;
    if (!pending_.empty() && (urgent || now >= next_commit)) {
      next_commit = now + commit_interval;
      if (!CommitPending(lock)) retry_at = Clock::now() + retry_interval;
      continue;
    }
    if (purging || now >= next_purge_) {
      if (!purging) {
        purging = true;
        const int64_t now_ms = NowEpochMs();
        samples_before_ms =
            now_ms - static_cast<int64_t>(options_.telemetry_retention_days * kMsPerDay);
        events_before_ms =
            now_ms - static_cast<int64_t>(options_.events_retention_days * kMsPerDay);
      }
      lock.unlock();  // Submit never waits for a purge
      const bool more = PurgeStep(samples_before_ms, events_before_ms);
      lock.lock();
      if (!more) {
        purging = false;
        next_purge_ = Clock::now() + milliseconds(options_.purge_interval_ms);
      }
      continue;
    }
    const bool had_pending = !pending_.empty();
    wake_.wait_until(lock, had_pending ? std::min(next_commit, next_purge_) : next_purge_, [&] {
      if (stopping_) return true;
      if (pending_.empty()) return false;
      return !had_pending || waiters_ > 0 || !pending_callbacks_.empty() ||
             pending_samples_.load() >= kEagerCommitSamples;
    });
  }
}

bool StorageWriter::CommitPending(std::unique_lock<std::mutex>& lock) {
  in_flight_.Append(std::move(pending_));  // after a failure, newer writes join the retried batch
  pending_.Clear();
  for (CommitCallback& callback : pending_callbacks_) {
    in_flight_callbacks_.push_back(std::move(callback));
  }
  pending_callbacks_.clear();
  if (in_flight_.empty()) {  // only empty batches waited: nothing to write
    std::vector<CommitCallback> done;
    done.swap(in_flight_callbacks_);
    Report(std::move(done), true, lock);
    return true;
  }
  const uint64_t ticket = submitted_ticket_;
  const size_t samples = in_flight_.samples.size();

  lock.unlock();  // in_flight_ is only changed by this thread, so it can be read unlocked
  const Status status = store_->Write(in_flight_);
  lock.lock();

  if (!status.ok()) {
    if (status.message() != last_error_) {
      std::fprintf(stderr, "driftwatch: storage commit failed, retrying every %u ms: %s\n",
                   options_.retry_interval_ms, status.message().c_str());
      last_error_ = status.message();
    }
    healthy_.store(false, std::memory_order_relaxed);
    return false;
  }
  if (!healthy_.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "driftwatch: storage commits succeed again\n");
  }
  in_flight_.Clear();
  last_error_.clear();
  healthy_.store(true, std::memory_order_relaxed);
  // Empty batches submitted meanwhile never reach pending_, so they are committed too.
  committed_ticket_ = pending_.empty() ? submitted_ticket_ : ticket;
  std::vector<CommitCallback> done;
  done.swap(in_flight_callbacks_);
  if (pending_.empty()) {
    for (CommitCallback& callback : pending_callbacks_) done.push_back(std::move(callback));
    pending_callbacks_.clear();
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  committed_samples_.fetch_add(samples, std::memory_order_relaxed);
  pending_samples_.fetch_sub(samples, std::memory_order_relaxed);
  committed_.notify_all();
  Report(std::move(done), true, lock);
  return true;
}

void StorageWriter::Report(std::vector<CommitCallback>&& callbacks, bool committed,
                           std::unique_lock<std::mutex>& lock) {
  if (callbacks.empty()) return;
  std::vector<CommitCallback> calls;
  calls.swap(callbacks);
  lock.unlock();  // a callback may take locks of its own (e.g. to send an answer)
  for (CommitCallback& call : calls) call(committed);
  lock.lock();
}

bool StorageWriter::PurgeStep(int64_t samples_before_ms, int64_t events_before_ms) {
  uint64_t deleted = 0;
  const Status status =
      store_->Purge(samples_before_ms, events_before_ms, options_.purge_step_rows, &deleted);
  if (!status.ok()) {
    std::fprintf(stderr, "driftwatch: retention failed, trying again in %u ms: %s\n",
                 options_.purge_interval_ms, status.message().c_str());
    return false;
  }
  return deleted > 0;
}

}  // namespace driftwatch
