#include "core/storage_writer.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "core/log.h"
#include "core/thread_name.h"
#include "core/timestamp.h"

namespace driftwatch {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A backlog this large is committed at once instead of at the end of the commit interval.
constexpr size_t kEagerCommitSamples = 20000;
// Retention first runs this soon after Start (or after one purge interval, if that is shorter).
constexpr milliseconds kFirstPurgeDelay{5000};
constexpr double kMsPerDay = 24.0 * 60 * 60 * 1000;
// Distinct refusals (a service and a kind) logged before the rest are only counted.
constexpr size_t kMaxLoggedRefusals = 1000;

int64_t NowEpochMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Only a refusal of the data itself is isolated. A corrupt store, an I/O error, a busy store or an
// internal error says nothing about which data is at fault, and setting aside every service's
// data because the disk is full would empty the pipeline into a side file: those are retried.
bool RefusesTheData(const Status& status) {
  return status.kind() == Status::Kind::kInvalidArgument;
}

// One service's share of a batch, in the batch's order.
struct ServicePart {
  std::string service_id;
  WriteBatch batch;
};

// Splits a batch by service, ordered by service id; each part keeps its own order (so a service's
// snapshot still comes with the samples it reflects).
std::vector<ServicePart> SplitByService(const WriteBatch& batch) {
  std::map<std::string, WriteBatch, std::less<>> parts;
  for (const std::string& service_id : batch.forgotten) {
    parts[service_id].forgotten.push_back(service_id);
  }
  // A part holds one series' rows, so none is a copy of a row beside it (endpoint_rows stays 0).
  for (const StoredSample& sample : batch.samples)
    parts[*sample.service_id].samples.push_back(sample);
  for (const StoredEvent& event : batch.events) parts[event.service_id].events.push_back(event);
  for (const StoredSnapshot& snapshot : batch.snapshots) {
    parts[snapshot.service_id].snapshots.push_back(snapshot);
  }
  for (const StoredNotification& row : batch.notifications) {
    parts[row.service_id].notifications.push_back(row);
  }
  for (const StoredNotification& row : batch.notification_updates) {
    parts[row.service_id].notification_updates.push_back(row);
  }
  std::vector<ServicePart> split;
  split.reserve(parts.size());
  for (auto& [service_id, part] : parts) split.push_back({service_id, std::move(part)});
  return split;
}

// The parts [begin, end) as one batch.
WriteBatch Join(const std::vector<ServicePart>& parts, size_t begin, size_t end) {
  WriteBatch joined;
  for (size_t i = begin; i < end; ++i) {
    WriteBatch copy = parts[i].batch;
    joined.Append(std::move(copy));
  }
  return joined;
}

}  // namespace

bool CommitReport::Refused(std::string_view service_id) const {
  return std::binary_search(refused.begin(), refused.end(), service_id);
}

StorageWriter::StorageWriter(Store* store, StorageWriterOptions options)
    : store_(store),
      options_(std::move(options)),
      refused_log_(options_.refused_path, options_.refused_max_bytes) {}

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
      std::vector<Waiter> abandoned;
      abandoned.swap(in_flight_callbacks_);
      for (CommitCallback& callback : pending_callbacks_) {
        abandoned.push_back({std::move(callback), {}});
      }
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
  const size_t samples = batch.SampleCount();  // before Append may take them
  uint64_t ticket = 0;
  bool wake = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    ticket = ++submitted_ticket_;
    if (batch.empty() && pending_.empty() && in_flight_.empty()) {
      committed_ticket_ = ticket;  // nothing to write and nothing before it waits
      committed_.notify_all();
      lock.unlock();
      if (on_committed) on_committed(CommitReport{});
      return ticket;
    }
    // Wake the writer only to arm its commit deadline (nothing was pending), to commit early, or
    // for someone waiting: any other wake-up is a context switch that finds nothing to do.
    wake = pending_.empty() || waiters_ > 0 || on_committed ||
           pending_samples_.load(std::memory_order_relaxed) + samples >= kEagerCommitSamples;
    pending_.Append(std::move(batch));  // may drop samples of a service it forgets
    CountPending();
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

std::string StorageWriter::last_refusal() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_refusal_;
}

void StorageWriter::RecordWriteDuration(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  size_t bucket = 0;
  while (bucket < CommitDurations::kBuckets && seconds > CommitDurations::kBoundsSeconds[bucket]) {
    ++bucket;
  }
  write_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  write_nanoseconds_.fetch_add(static_cast<uint64_t>(duration.count()), std::memory_order_relaxed);
}

CommitDurations StorageWriter::commit_durations() const {
  CommitDurations durations;
  uint64_t total = 0;
  for (size_t i = 0; i < CommitDurations::kBuckets; ++i) {
    total += write_buckets_[i].load(std::memory_order_relaxed);
    durations.cumulative[i] = total;
  }
  durations.count =
      total + write_buckets_[CommitDurations::kBuckets].load(std::memory_order_relaxed);
  constexpr double kNanosecondsPerSecond = 1e9;
  durations.sum_seconds = static_cast<double>(write_nanoseconds_.load(std::memory_order_relaxed)) /
                          kNanosecondsPerSecond;
  return durations;
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
  CountPending();
  for (CommitCallback& callback : pending_callbacks_) {
    in_flight_callbacks_.push_back({std::move(callback), {}});
  }
  pending_callbacks_.clear();
  if (in_flight_.empty()) {  // only empty batches waited: nothing to write
    std::vector<Waiter> done;
    done.swap(in_flight_callbacks_);
    Report(std::move(done), true, lock);
    return true;
  }
  const uint64_t ticket = submitted_ticket_;
  const size_t samples = in_flight_.samples.size();

  lock.unlock();  // in_flight_ is only changed by this thread, so it can be read unlocked
  const Clock::time_point write_started = Clock::now();
  Status status = store_->Write(in_flight_);
  RecordWriteDuration(Clock::now() - write_started);
  Isolation isolation;
  const bool isolate = !status.ok() && RefusesTheData(status) && !refused_log_.path().empty();
  if (isolate) isolation = Isolate(status);
  lock.lock();

  if (isolate) {
    Settle(isolation);
    status = isolation.failure;
  }
  if (!status.ok()) {
    if (status.message() != last_error_) {
      log::Error("storage commit failed (" + std::string(Status::KindName(status.kind())) +
                 "), retrying every " + std::to_string(options_.retry_interval_ms) +
                 " ms: " + status.message());
      last_error_ = status.message();
    }
    healthy_.store(false, std::memory_order_relaxed);
    return false;
  }
  if (!healthy_.load(std::memory_order_relaxed)) {
    log::Notice("storage commits succeed again");
  }
  std::vector<StoredNotification> committed_notifications =
      isolate ? std::move(isolation.committed_notifications) : std::move(in_flight_.notifications);
  in_flight_.Clear();
  last_error_.clear();
  healthy_.store(true, std::memory_order_relaxed);
  // Empty batches submitted meanwhile never reach pending_, so they are committed too.
  committed_ticket_ = pending_.empty() ? submitted_ticket_ : ticket;
  std::vector<Waiter> done;
  done.swap(in_flight_callbacks_);
  if (pending_.empty()) {
    for (CommitCallback& callback : pending_callbacks_) done.push_back({std::move(callback), {}});
    pending_callbacks_.clear();
  }
  if (!isolate) {
    commits_.fetch_add(1, std::memory_order_relaxed);
    committed_samples_.fetch_add(samples, std::memory_order_relaxed);
  }
  CountPending();
  committed_.notify_all();
  if (!committed_notifications.empty() && options_.on_notifications_committed) {
    lock.unlock();
    options_.on_notifications_committed(std::move(committed_notifications));
    lock.lock();
  }
  Report(std::move(done), true, lock);
  return true;
}

StorageWriter::Isolation StorageWriter::Isolate(const Status& refusal) {
  // Halving by service finds k refused services among n in about 2k log2(n) commits, and commits
  // the others in few transactions; committing each service alone would take n. Each service's
  // data stays in one part, so what a commit held together for a service stays together: its
  // samples, its events, and the snapshot that reflects them.
  const std::vector<ServicePart> parts = SplitByService(in_flight_);
  std::vector<bool> settled(parts.size(), false);
  Isolation isolation;
  std::vector<std::pair<size_t, size_t>> ranges;  // to try, the next at the back
  const auto halve = [&ranges](size_t begin, size_t end) {
    const size_t middle = begin + (end - begin) / 2;
    ranges.emplace_back(middle, end);
    ranges.emplace_back(begin, middle);
  };
  const auto set_aside = [&](size_t index, const Status& reason) {
    const ServicePart& part = parts[index];
    const Status written = refused_log_.Append(part.batch, reason, NowMs());
    if (!written.ok()) {  // kept, and tried again with the next attempt
      isolation.failure =
          Status::IoError("the store refused the data of service '" + part.service_id + "' (" +
                          reason.message() + "), and it cannot be set aside: " + written.message());
      return;
    }
    settled[index] = true;
    isolation.refused_samples += part.batch.samples.size();
    isolation.refused_events += part.batch.events.size();
    isolation.refusals.emplace_back(part.service_id, reason);
  };
  if (parts.size() == 1) {
    set_aside(0, refusal);  // the whole batch was this one service's
  } else {
    halve(0, parts.size());
  }
  while (!ranges.empty()) {
    const auto [begin, end] = ranges.back();
    ranges.pop_back();
    const WriteBatch batch = Join(parts, begin, end);
    const Status status = store_->Write(batch);
    if (status.ok()) {
      std::fill(settled.begin() + static_cast<ptrdiff_t>(begin),
                settled.begin() + static_cast<ptrdiff_t>(end), true);
      ++isolation.commits;
      isolation.committed_samples += batch.samples.size();
      isolation.committed_notifications.insert(isolation.committed_notifications.end(),
                                               batch.notifications.begin(),
                                               batch.notifications.end());
    } else if (!RefusesTheData(status)) {
      isolation.failure = status;  // the store itself fails now: retry what is left, later
      break;
    } else if (end - begin > 1) {
      halve(begin, end);
    } else {
      set_aside(begin, status);
    }
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (settled[i]) continue;
    WriteBatch copy = parts[i].batch;
    isolation.unsettled.Append(std::move(copy));
  }
  // Its rows may point at ids that only in_flight_, which it replaces, keeps (WriteBatch::ids).
  if (!isolation.unsettled.empty()) isolation.unsettled.ids = in_flight_.ids;
  return isolation;
}

void StorageWriter::Settle(Isolation& isolation) {
  in_flight_ = std::move(isolation.unsettled);  // under the lock: PendingEvents reads it
  CountPending();
  commits_.fetch_add(isolation.commits, std::memory_order_relaxed);
  committed_samples_.fetch_add(isolation.committed_samples, std::memory_order_relaxed);
  refused_samples_.fetch_add(isolation.refused_samples, std::memory_order_relaxed);
  refused_events_.fetch_add(isolation.refused_events, std::memory_order_relaxed);
  if (isolation.refusals.empty()) return;

  std::vector<std::string> refused;
  for (const auto& [service_id, reason] : isolation.refusals) {
    refused.push_back(service_id);
    last_refusal_ = "service '" + service_id +
                    "': " + std::string(Status::KindName(reason.kind())) + ": " + reason.message();
    // One line per service and kind of refusal, not per sample nor per commit: a service the
    // store keeps refusing would otherwise log at every commit. The counts are in the status.
    const std::string key = std::string(Status::KindName(reason.kind())) + " " + service_id;
    if (logged_refusals_.size() > kMaxLoggedRefusals || logged_refusals_.contains(key)) continue;
    logged_refusals_.insert(key);
    if (logged_refusals_.size() > kMaxLoggedRefusals) {
      log::Warning("more than " + std::to_string(kMaxLoggedRefusals) +
                   " services refused by the store: further refusals are set aside and counted "
                   "(refused_samples in /v1/system/status), not logged");
      continue;
    }
    log::Warning("the store refused the data of service '" + service_id + "' (" +
                 std::string(Status::KindName(reason.kind())) + ": " + reason.message() +
                 "); it is set aside in '" + refused_log_.path() +
                 "' and the other services' data is committed");
  }
  std::sort(refused.begin(), refused.end());
  // Every batch being committed now may have held data of these services (their callbacks are
  // told; each checks the services it cares about). A batch submitted later is not told.
  for (Waiter& waiter : in_flight_callbacks_) {
    std::vector<std::string> merged;
    std::set_union(waiter.refused.begin(), waiter.refused.end(), refused.begin(), refused.end(),
                   std::back_inserter(merged));
    waiter.refused.swap(merged);
  }
}

void StorageWriter::Report(std::vector<Waiter>&& waiters, bool committed,
                           std::unique_lock<std::mutex>& lock) {
  if (waiters.empty()) return;
  std::vector<Waiter> calls;
  calls.swap(waiters);
  lock.unlock();  // a callback may take locks of its own (e.g. to send an answer)
  for (Waiter& waiter : calls) {
    CommitReport report;
    report.committed = committed;
    report.refused = std::move(waiter.refused);
    waiter.call(report);
  }
  lock.lock();
}

void StorageWriter::CountPending() {
  pending_samples_.store(pending_.SampleCount() + in_flight_.SampleCount(),
                         std::memory_order_relaxed);
}

bool StorageWriter::PurgeStep(int64_t samples_before_ms, int64_t events_before_ms) {
  uint64_t deleted = 0;
  const Status status =
      store_->Purge(samples_before_ms, events_before_ms, options_.purge_step_rows, &deleted);
  if (!status.ok()) {
    log::Warning("retention failed, trying again in " + std::to_string(options_.purge_interval_ms) +
                 " ms: " + status.message());
    return false;
  }
  return deleted > 0;
}

}  // namespace driftwatch
