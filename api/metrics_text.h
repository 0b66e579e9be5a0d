// GET /metrics: the Prometheus text exposition format 0.0.4, rendered straight from copies of the
// engine's state taken at scrape time (docs/api.md, GET /metrics). No HTTP here.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "notify/sender.h"

namespace driftwatch::api {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct MetricsInput {
  std::string version;
  EngineStatus status;
  EngineMetrics metrics;
  std::vector<ServiceMetrics> services;
  uint32_t per_service_limit = 10000;  // metrics.per_service_limit
  std::vector<notify::TargetStatus> notification_targets;
};

std::string RenderMetrics(const MetricsInput& input);

// How much nicer than the process the thread that renders scrapes runs (capped at 19).
inline constexpr int kMetricsRenderNiceIncrement = 10;

// Renders scrapes on a thread of its own, at a lower scheduling priority than the rest of the
// process (nice + kMetricsRenderNiceIncrement), so that when the CPU is saturated ingest keeps
// precedence over a scrape (docs/behaviour.md, "Decisions about HTTP"). Only the formatting runs
// there: the input is copied out of the engine beforehand, on the caller's thread at its priority,
// so the low-priority thread never holds an engine lock. Scrapes are rendered one at a time, in the
// order given. The thread starts with the first Render.
class MetricsRenderThread {
 public:
  using Done = std::function<void(std::string text)>;
  MetricsRenderThread() = default;
  MetricsRenderThread(const MetricsRenderThread&) = delete;
  MetricsRenderThread& operator=(const MetricsRenderThread&) = delete;
  ~MetricsRenderThread();  // renders what is still queued, then joins

  // Renders `input` on the thread, then calls `done` there with the text.
  void Render(MetricsInput&& input, Done done);

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<MetricsInput, Done>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// Appends `value` escaped as a label value: backslash, double quote and line feed.
void AppendLabelValue(std::string* out, std::string_view value);

}  // namespace driftwatch::api
