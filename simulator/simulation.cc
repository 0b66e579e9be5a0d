#include "simulator/simulation.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "core/timestamp.h"

namespace driftwatch::sim {

Simulation::Simulation(const Options& options, DriftWatchApi* api, Progress* progress)
    : options_(options),
      api_(api),
      progress_(progress),
      generator_(options.mode, options.TotalSamples(), options.seed) {}

int64_t Simulation::OffsetOf(int64_t index) const {
  return std::llround(static_cast<double>(index) * 1000.0 / options_.rate_per_s);
}

int64_t Simulation::TimestampOf(int64_t index) const { return start_ms_ + OffsetOf(index); }

int64_t Simulation::StartMs() const {
  const int64_t now_ms = NowMs();
  if (!options_.synthetic_time) return now_ms;
  // SPIKE with --verify may send NORMAL samples after the scheduled ones, until it recovers.
  const bool may_add = options_.verify && options_.mode == Mode::kSpike;
  const int64_t most = options_.TotalSamples() + (may_add ? kMaxExtraRecoverySamples : 0);
  return now_ms - OffsetOf(most - 1);
}

Status Simulation::Run(RunResult* result) {
  if (Status got = api_->GetHealth(&initial_); !got.ok()) return got;
  shown_state_ = initial_.state;
  // Sample k carries start + k/rate. In real time it is also sent at that moment, so it is never
  // ahead of the clock. In synthetic time all are sent at once, and the server refuses timestamps
  // too far ahead of its clock (ingest.max_future_seconds): such a run ends, rather than starts, at
  // the current wall-clock time (docs/simulator.md).
  start_ms_ = StartMs();
  start_ = std::chrono::steady_clock::now();
  state_polled_ = start_;
  progress_->Update(0, shown_state_, true);

  const int64_t scheduled = options_.TotalSamples();
  if (Status sent = SendSamples(scheduled); !sent.ok()) return sent;
  Health health;
  if (Status waited = WaitUntilProcessed(&health); !waited.ok()) return waited;

  // docs/behaviour.md, Simulator: keep the NORMAL traffic going until the spike's drift is over (or
  // give up).
  int64_t extra = 0;
  if (options_.verify && options_.mode == Mode::kSpike) {
    const int64_t chunk =
        options_.synthetic_time
            ? kRecoveryChunkSamples
            : std::clamp<int64_t>(std::llround(options_.rate_per_s), 1, kRecoveryChunkSamples);
    while (health.state == "DRIFT_DETECTED" && extra < kMaxExtraRecoverySamples) {
      const int64_t count = std::min(chunk, kMaxExtraRecoverySamples - extra);
      if (Status sent = SendSamples(count); !sent.ok()) return sent;
      extra += count;
      if (Status waited = WaitUntilProcessed(&health); !waited.ok()) return waited;
    }
  }
  progress_->Update(sent_, health.state, true);
  progress_->Finish();

  RunResult out;
  out.initial = initial_;
  out.final = health;
  out.scheduled_samples = scheduled;
  out.extra_normal_samples = extra;
  out.sent_samples = sent_;
  out.resent_samples = api_->resent_samples();
  out.overload_answers = api_->overload_answers();
  out.first_timestamp_ms = start_ms_;
  out.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (Status collected = CollectTransitions(&out.transitions); !collected.ok()) return collected;
  if (options_.verify) {
    RunFacts facts;
    facts.mode = options_.mode;
    facts.phases = generator_.phases();
    facts.rate_per_s = options_.rate_per_s;
    facts.initial_state = initial_.state;
    facts.transitions = out.transitions;
    facts.samples_sent = sent_;
    facts.extra_normal_samples = extra;
    out.verdict = Verify(facts);
  }
  *result = std::move(out);
  return Status::Ok();
}

Status Simulation::SendSamples(int64_t count) {
  const int64_t end = sent_ + count;
  std::vector<Telemetry> batch;
  while (sent_ < end) {
    int64_t batch_size = std::min(kSyntheticBatchSamples, end - sent_);
    if (!options_.synthetic_time) {
      // Wait for the next sample's moment; then send it with any others already due.
      const auto due =
          start_ +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(static_cast<double>(sent_) / options_.rate_per_s));
      std::this_thread::sleep_until(due);
      const double elapsed_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      const int64_t due_count =
          static_cast<int64_t>(std::floor(elapsed_s * options_.rate_per_s)) + 1 - sent_;
      batch_size =
          std::clamp<int64_t>(due_count, 1, std::min(kMaxRealTimeBatchSamples, end - sent_));
    }
    batch.clear();
    for (int64_t i = 0; i < batch_size; ++i) {
      const Sample sample = generator_.Next();
      batch.push_back({sample.latency_ms, sample.payload_kb, TimestampOf(sent_ + i)});
    }
    if (Status sent = api_->Send(batch); !sent.ok()) return sent;
    sent_ += batch_size;
    if (Status shown = RefreshShownState(); !shown.ok()) return shown;
    progress_->Update(sent_, shown_state_);
  }
  return Status::Ok();
}

Status Simulation::RefreshShownState() {
  const auto interval = options_.synthetic_time ? kStatePollSynthetic : kStatePollRealTime;
  const auto now = std::chrono::steady_clock::now();
  if (now - state_polled_ < interval) return Status::Ok();
  state_polled_ = now;
  Health health;
  if (Status got = api_->GetHealth(&health); !got.ok()) return got;
  shown_state_ = health.state;
  return Status::Ok();
}

Status Simulation::WaitUntilProcessed(Health* health) {
  // Ingestion is asynchronous (202 before processing): sample_count tells when ours are done.
  const int64_t target = initial_.sample_count + sent_;
  int64_t last_count = -1;
  auto last_change = std::chrono::steady_clock::now();
  while (true) {
    if (Status got = api_->GetHealth(health); !got.ok()) return got;
    shown_state_ = health->state;
    if (health->known && health->sample_count >= target) return Status::Ok();
    const auto now = std::chrono::steady_clock::now();
    if (health->sample_count != last_count) {
      last_count = health->sample_count;
      last_change = now;
    } else if (now - last_change > kProcessingStallLimit) {
      return Status::Error("the server processed " +
                           std::to_string(health->sample_count - initial_.sample_count) + " of " +
                           std::to_string(sent_) + " accepted samples and made no progress for " +
                           std::to_string(kProcessingStallLimit.count()) + " s");
    }
    progress_->Update(sent_, shown_state_);
    std::this_thread::sleep_for(kProcessingPoll);
  }
}

Status Simulation::CollectTransitions(std::vector<Transition>* transitions) {
  std::vector<DriftEvent> events;
  if (Status got = api_->GetEvents(kEventsLimit, &events); !got.ok()) return got;
  transitions->clear();
  const int64_t first_seq = initial_.sample_count + 1;
  const int64_t last_seq = initial_.sample_count + sent_;
  for (DriftEvent& event : events) {
    const bool ours =
        event.sample_seq && *event.sample_seq >= first_seq && *event.sample_seq <= last_seq;
    if (!ours) continue;  // from before this run (or an operator's reset, which has no sample)
    transitions->push_back({*event.sample_seq - initial_.sample_count, std::move(event)});
  }
  // Newest first from the server; oldest first here, by the sample that caused each.
  std::reverse(transitions->begin(), transitions->end());
  std::stable_sort(
      transitions->begin(), transitions->end(),
      [](const Transition& a, const Transition& b) { return a.sample_index < b.sample_index; });
  return Status::Ok();
}

}  // namespace driftwatch::sim
