// One run of driftwatch-sim: send the scenario's samples, wait until the server has processed
// them, collect the transitions they caused and, with --verify, judge them.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <vector>

#include "core/status.h"
#include "simulator/driftwatch_api.h"
#include "simulator/options.h"
#include "simulator/progress.h"
#include "simulator/traffic_profile.h"
#include "simulator/verify.h"

namespace driftwatch::sim {

struct RunResult {
  Health initial;  // before the first sample
  Health final;    // after the server processed the last one
  int64_t scheduled_samples = 0;
  int64_t extra_normal_samples = 0;  // SPIKE with --verify: sent until the service recovered
  int64_t sent_samples = 0;
  int64_t resent_samples = 0;  // sent again after a 503
  int64_t overload_answers = 0;
  int64_t first_timestamp_ms = 0;
  double elapsed_s = 0;                 // wall time
  std::vector<Transition> transitions;  // caused by this run's samples, in order
  std::optional<Verdict> verdict;       // with --verify
};

class Simulation {
 public:
  // `options`, `api` and `progress` must outlive this object.
  Simulation(const Options& options, DriftWatchApi* api, Progress* progress);

  Status Run(RunResult* result);

  static constexpr int64_t kSyntheticBatchSamples = 100;
  static constexpr int64_t kMaxRealTimeBatchSamples = 100;  // when behind schedule
  static constexpr int64_t kRecoveryChunkSamples = 50;      // then check whether STABLE
  static constexpr int kEventsLimit = 1000;                 // the API's largest ?limit=
  static constexpr std::chrono::milliseconds kProcessingPoll{10};
  static constexpr std::chrono::seconds kProcessingStallLimit{30};
  static constexpr std::chrono::milliseconds kStatePollSynthetic{250};
  static constexpr std::chrono::milliseconds kStatePollRealTime{1000};

 private:
  Status SendSamples(int64_t count);
  Status WaitUntilProcessed(Health* health);
  // Polls the service's state for the progress line, at most every kStatePoll*.
  Status RefreshShownState();
  Status CollectTransitions(std::vector<Transition>* transitions);
  // Sample `index`'s timestamp, and how far after the run's start it lies.
  int64_t TimestampOf(int64_t index) const;
  int64_t OffsetOf(int64_t index) const;
  // The first sample's timestamp: now in real time; in synthetic time, early enough that the last
  // sample the run may send is stamped now.
  int64_t StartMs() const;

  const Options& options_;
  DriftWatchApi* api_;
  Progress* progress_;
  TrafficGenerator generator_;
  Health initial_;
  int64_t sent_ = 0;
  int64_t start_ms_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point state_polled_;
  std::string shown_state_;
};

}  // namespace driftwatch::sim
