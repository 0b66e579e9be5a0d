// The notification sender: one thread per target, never an HTTP or engine thread, delivering the
// outbox's rows in the order they were committed (so, per service, a recovery never overtakes its
// drift), each target on its own so that a dead one delays no other. Retries, give-up and
// Alertmanager's re-sending follow docs/behaviour.md, "Notifications". What becomes of each row
// goes back to the store through `record` (the engine's next commit); a restart loads what is still
// pending (Load) and goes on.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/engine.h"
#include "core/status.h"
#include "core/storage.h"

namespace driftwatch::notify {

// One target's figures since start (pending: now), for GET /v1/system/status and /metrics.
struct TargetStatus {
  std::string name;
  std::string type;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  uint64_t retried = 0;  // attempts that failed and were tried again
  uint64_t pending = 0;
  std::string last_error;  // "" for none; never holds a secret
  std::optional<int64_t> last_error_ms;
  std::optional<int64_t> last_success_ms;
};

struct SenderOptions {
  // Backoff between attempts: from initial to max, doubling, with jitter (docs/behaviour.md).
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{300000};
};

class NotificationSender final : public NotificationSink {
 public:
  using Record = std::function<void(std::vector<StoredNotification>&& updates)>;
  NotificationSender(const NotifyConfig& config, Record record, SenderOptions options = {});
  ~NotificationSender() override;  // Stop()

  // Before Start: the pending rows of every configured target, oldest first, and the drifts whose
  // alerts Alertmanager targets keep re-sending. `scan` visits the outbox's rows, oldest first.
  using Scan = std::function<Status(const Store::NotificationFilter& filter,
                                    const std::function<void(StoredNotification&&)>& visit)>;
  Status Load(const Scan& scan);
  void Start();
  // Ends the threads, cutting short an attempt under way (it stays pending).
  void Stop();

  void Committed(std::vector<StoredNotification>&& rows) override;
  void Forgotten(const std::string& service_id) override;

  std::vector<TargetStatus> Targets() const;

 private:
  struct Target;
  void Run(Target& target);
  // Tries the oldest pending row of `target` once (the lock released meanwhile).
  void Attempt(Target& target, std::unique_lock<std::mutex>& lock);
  void Resend(Target& target, std::unique_lock<std::mutex>& lock);
  std::string Redact(const Target& target, std::string text) const;

  const NotifyConfig config_;
  const Record record_;
  const SenderOptions options_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::map<std::string, Target*, std::less<>> by_name_;
  std::atomic<bool> stopping_{false};
};

}  // namespace driftwatch::notify
