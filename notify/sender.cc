#include "notify/sender.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "core/log.h"
#include "core/thread_name.h"
#include "core/timestamp.h"
#include "notify/formats.h"
#include "notify/http_post.h"

namespace driftwatch::notify {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Worth another attempt: no answer, a timeout, 408, 429 and 5xx. Anything else but 2xx is final.
bool Retryable(const PostResult& result) {
  return result.status == 0 || result.status == 408 || result.status == 429 || result.status >= 500;
}

}  // namespace

struct NotificationSender::Target {
  const NotifyTarget* config = nullptr;
  std::deque<StoredNotification> queue;       // pending, oldest first
  std::map<std::string, std::string> firing;  // alertmanager: service -> its drift's alert
  Clock::time_point next_attempt{};           // backoff of the oldest row
  Clock::time_point next_resend{};
  std::condition_variable wake;
  std::thread thread;
  TargetStatus status;
  std::mt19937_64 random{std::random_device{}()};
};

NotificationSender::NotificationSender(const NotifyConfig& config, Record record,
                                       SenderOptions options)
    : config_(config), record_(std::move(record)), options_(options) {
  for (const NotifyTarget& target : config_.targets) {
    auto state = std::make_unique<Target>();
    state->config = &target;
    state->status.name = target.name;
    state->status.type = target.type;
    by_name_[target.name] = state.get();
    targets_.push_back(std::move(state));
  }
}

NotificationSender::~NotificationSender() { Stop(); }

driftwatch::Status NotificationSender::Load(const Scan& scan) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& target : targets_) {
    Store::NotificationFilter filter;
    filter.target = target->config->name;
    driftwatch::Status scanned = scan(filter, [&](StoredNotification&& row) {
      TransitionNotice transition;
      const bool parsed = ParseTransition(row.body, &transition).ok();
      if (target->config->type == "alertmanager" && parsed) {
        // Delivered drifts still firing, in order: a later row of the service ends it.
        if (transition.drift && row.state == NotificationState::kDelivered) {
          target->firing[row.service_id] = FiringAlert(transition);
        } else if (!transition.drift) {
          target->firing.erase(row.service_id);
        }
      }
      if (row.state == NotificationState::kPending) target->queue.push_back(std::move(row));
    });
    if (!scanned.ok()) return scanned;
    target->status.pending = target->queue.size();
    if (!target->queue.empty()) {
      log::Notice("notify: " + std::to_string(target->queue.size()) +
                  " notifications for target '" + target->config->name + "' still pending");
    }
  }
  return Status::Ok();
}

void NotificationSender::Start() {
  InitCurl();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& target : targets_) {
    Target* state = target.get();
    state->next_resend = Clock::now() + std::chrono::seconds(config_.resend_interval_seconds);
    state->thread = std::thread([this, state] {
      NameThisThread("dw-notify");
      Run(*state);
    });
  }
}

void NotificationSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (const auto& target : targets_) target->wake.notify_all();
  }
  for (const auto& target : targets_) {
    if (target->thread.joinable()) target->thread.join();
  }
}

void NotificationSender::Committed(std::vector<StoredNotification>&& rows) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (StoredNotification& row : rows) {
    const auto target = by_name_.find(row.target);
    if (target == by_name_.end()) continue;  // not configured any more: stays pending in the store
    target->second->queue.push_back(std::move(row));
    target->second->status.pending = target->second->queue.size();
    target->second->wake.notify_one();
  }
}

void NotificationSender::Forgotten(const std::string& service_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& target : targets_) target->firing.erase(service_id);
}

std::vector<TargetStatus> NotificationSender::Targets() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TargetStatus> list;
  for (const auto& target : targets_) list.push_back(target->status);
  return list;
}

std::string NotificationSender::Redact(const Target& target, std::string text) const {
  for (const std::string* secret :
       {&target.config->secret, &target.config->routing_key, &target.config->url}) {
    if (secret->empty()) continue;
    for (size_t at = text.find(*secret); at != std::string::npos; at = text.find(*secret, at)) {
      text.replace(at, secret->size(), "[redacted]");
    }
  }
  return text;
}

void NotificationSender::Run(Target& target) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    const bool resend_due = !target.firing.empty() && now >= target.next_resend;
    if (resend_due) {
      Resend(target, lock);
      continue;
    }
    if (!target.queue.empty() && now >= target.next_attempt) {
      Attempt(target, lock);
      continue;
    }
    auto until = target.firing.empty() ? Clock::time_point::max() : target.next_resend;
    if (!target.queue.empty()) until = std::min(until, target.next_attempt);
    const size_t queued = target.queue.size();
    const auto woken = [&] { return stopping_ || target.queue.size() != queued; };
    if (until == Clock::time_point::max()) {
      target.wake.wait(lock, woken);
    } else {
      target.wake.wait_until(lock, until, woken);
    }
  }
}

void NotificationSender::Attempt(Target& target, std::unique_lock<std::mutex>& lock) {
  StoredNotification row = target.queue.front();
  lock.unlock();
  TransitionNotice transition;
  const driftwatch::Status parsed = ParseTransition(row.body, &transition);
  PostResult result;
  if (parsed.ok()) {
    result = Post(RenderRequest(*target.config, transition),
                  std::chrono::seconds(config_.timeout_seconds), stopping_);
  } else {
    result.status = -1;  // final: a body no attempt could send
    result.error = parsed.message();
  }
  lock.lock();
  if (stopping_ && result.status == 0) return;  // cut short: stays pending for the next start
  const int64_t now_ms = NowMs();
  ++row.attempts;
  row.updated_ms = now_ms;
  TargetStatus& status = target.status;
  const bool delivered = result.status >= 200 && result.status <= 299;
  const bool gave_up =
      !delivered && Retryable(result) &&
      now_ms - row.created_ms >= static_cast<int64_t>(config_.give_up_after_seconds) * 1000;
  if (delivered) {
    row.state = NotificationState::kDelivered;
    row.last_error.clear();
    ++status.delivered;
    status.last_success_ms = now_ms;
    target.next_attempt = Clock::now();
  } else {
    row.last_error = Redact(target, result.error);
    status.last_error = row.last_error;
    status.last_error_ms = now_ms;
    if (Retryable(result) && !gave_up) {
      ++status.retried;
      // Exponential from the initial backoff to the maximum, with jitter (half to all of it), so
      // that targets recovering from an outage are not hit by every sender at once.
      const int doublings = static_cast<int>(std::min<uint32_t>(row.attempts - 1, 20));
      const milliseconds ceiling =
          std::min(options_.max_backoff, options_.initial_backoff * (int64_t{1} << doublings));
      std::uniform_int_distribution<int64_t> jitter(ceiling.count() / 2, ceiling.count());
      milliseconds delay(jitter(target.random));
      if (result.retry_after) {
        delay = std::min<milliseconds>(*result.retry_after, options_.max_backoff);
      }
      target.next_attempt = Clock::now() + delay;
      target.queue.front() = row;
      lock.unlock();
      record_({row});
      lock.lock();
      return;
    }
    if (gave_up) {
      row.last_error = "gave up after " + std::to_string(config_.give_up_after_seconds) +
                       " s: " + row.last_error;
    }
    row.state = NotificationState::kFailed;
    ++status.failed;
    log::Warning("notify: target '" + target.config->name + "': notification " + row.id +
                 " failed: " + row.last_error);
    target.next_attempt = Clock::now();
  }
  if (target.config->type == "alertmanager" && parsed.ok()) {
    if (transition.drift && delivered) {
      target.firing[row.service_id] = FiringAlert(transition);
    } else if (!transition.drift) {
      target.firing.erase(row.service_id);
    }
  }
  target.queue.pop_front();
  status.pending = target.queue.size();
  lock.unlock();
  record_({row});
  lock.lock();
}

void NotificationSender::Resend(Target& target, std::unique_lock<std::mutex>& lock) {
  std::vector<std::string> alerts;
  for (const auto& [service_id, alert] : target.firing) alerts.push_back(alert);
  target.next_resend = Clock::now() + std::chrono::seconds(config_.resend_interval_seconds);
  lock.unlock();
  // Best effort: a missed re-send is made up by the next one, well before Alertmanager's
  // resolve_timeout (5 min by default) would resolve the alert.
  const PostResult result = Post(AlertmanagerRequest(*target.config, alerts),
                                 std::chrono::seconds(config_.timeout_seconds), stopping_);
  lock.lock();
  if (result.status < 200 || result.status > 299) {
    target.status.last_error = Redact(target, "re-sending firing alerts: " + result.error);
    target.status.last_error_ms = NowMs();
  }
}

}  // namespace driftwatch::notify
