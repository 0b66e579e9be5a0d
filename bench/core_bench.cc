// Google Benchmark micro-benchmarks of the per-sample CPU paths: the baseline refresh of a full
// window, ServiceMonitor::Process with the bundled detector plugins, and the API's JSON parsing.
// Run by bench/run.sh; never part of ctest.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "api/response_json.h"
#include "api/sample_parser.h"
#include "core/baseline_window.h"
#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "core/service_monitor.h"
#include "core/timestamp.h"

namespace {

constexpr int64_t kSampleSpacingMs = 100;  // 10 samples/s, the simulator's rate
constexpr size_t kStreamLength = 4096;     // pre-generated samples, cycled
// ingest.max_future_seconds as the service has it by default.
constexpr int64_t kMaxFutureMs = int64_t{driftwatch::IngestConfig{}.max_future_seconds} * 1000;

std::vector<driftwatch::Sample> NormalSamples(size_t count, bool with_payload) {
  std::mt19937_64 random(42);
  std::normal_distribution<double> latency(150.0, 25.0);
  std::normal_distribution<double> payload(2.45, 0.76);
  std::vector<driftwatch::Sample> samples(count);
  for (size_t i = 0; i < count; ++i) {
    samples[i].timestamp_ms = 1'700'000'000'000 + static_cast<int64_t>(i) * kSampleSpacingMs;
    samples[i].latency_ms = std::max(1.0, latency(random));
    samples[i].payload_kb = with_payload ? std::max(0.0, payload(random)) : std::nan("");
  }
  return samples;
}

// Distinct full windows, cycled through: timing one window over and over lets the branch predictor
// learn nth_element's exact path through that data, which makes a refresh look 4x cheaper than it
// is on a window that changed since the last refresh (measured: ~4 us vs ~18 us for 1000 samples).
// 64 windows are more than it can learn, and more than L1/L2 hold, as with many services.
constexpr size_t kDistinctWindows = 64;

std::vector<driftwatch::BaselineWindow> FullWindows(uint32_t size, bool with_payload) {
  std::vector<driftwatch::Sample> samples = NormalSamples(size * kDistinctWindows, with_payload);
  std::vector<driftwatch::BaselineWindow> windows(kDistinctWindows,
                                                  driftwatch::BaselineWindow(size));
  for (size_t i = 0; i < samples.size(); ++i) windows[i / size].Append(samples[i]);
  return windows;
}

// BaselineWindow::Compute over a full window: mean, stddev, p50/p95/p99, payload mean/stddev.
void BM_BaselineCompute(benchmark::State& state) {
  const bool with_payload = state.range(1) != 0;
  const std::vector<driftwatch::BaselineWindow> windows =
      FullWindows(static_cast<uint32_t>(state.range(0)), with_payload);
  size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(windows[next].Compute(0));
    next = (next + 1) % windows.size();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BaselineCompute)
    ->ArgNames({"window", "payload"})
    ->Args({1000, 1})
    ->Args({1000, 0})
    ->Args({100, 1})
    ->Args({10000, 1});

// The window's encoding costs what the values need, and so may decoding: the same refresh for the
// values clients send. values: 0 full-precision doubles (as above), 1 as the README's client (a
// full-precision latency, payload = whole bytes / 1024), 2 both with three decimals.
std::vector<driftwatch::Sample> ClientSamples(size_t count, int64_t values) {
  std::vector<driftwatch::Sample> samples = NormalSamples(count, true);
  for (driftwatch::Sample& sample : samples) {
    if (values == 1) {
      sample.payload_kb = std::floor(sample.payload_kb * 1024.0) / 1024.0;
    } else if (values == 2) {
      sample.latency_ms = std::round(sample.latency_ms * 1000.0) / 1000.0;
      sample.payload_kb = std::round(sample.payload_kb * 1000.0) / 1000.0;
    }
  }
  return samples;
}

void BM_BaselineComputeValues(benchmark::State& state) {
  constexpr uint32_t kWindow = 1000;
  const std::vector<driftwatch::Sample> samples =
      ClientSamples(kWindow * kDistinctWindows, state.range(0));
  std::vector<driftwatch::BaselineWindow> windows(kDistinctWindows,
                                                  driftwatch::BaselineWindow(kWindow));
  for (size_t i = 0; i < samples.size(); ++i) windows[i / kWindow].Append(samples[i]);
  size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(windows[next].Compute(0));
    next = (next + 1) % windows.size();
  }
  state.SetItemsProcessed(state.iterations() * kWindow);
}
BENCHMARK(BM_BaselineComputeValues)->ArgName("values")->Arg(0)->Arg(1)->Arg(2);

// Append to a full 1000-sample window (encode the new sample, drop the oldest), per sample.
void BM_BaselineAppendValues(benchmark::State& state) {
  constexpr uint32_t kWindow = 1000;
  const std::vector<driftwatch::Sample> samples = ClientSamples(kStreamLength, state.range(0));
  driftwatch::BaselineWindow window(kWindow);
  size_t index = 0;
  for (uint32_t i = 0; i < kWindow; ++i, index = (index + 1) % samples.size()) {
    window.Append(samples[index]);
  }
  for (auto _ : state) {
    window.Append(samples[index]);
    index = (index + 1) % samples.size();
  }
  benchmark::DoNotOptimize(window.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineAppendValues)->ArgName("values")->Arg(0)->Arg(1)->Arg(2);

// What a refresh does in ServiceMonitor: age eviction (newest timestamp, then a pass that drops
// nothing here) and the computation.
void BM_BaselineRefresh(benchmark::State& state) {
  std::vector<driftwatch::BaselineWindow> windows =
      FullWindows(static_cast<uint32_t>(state.range(0)), true);
  constexpr int64_t kDayMs = 24 * 3600 * 1000;
  size_t next = 0;
  for (auto _ : state) {
    driftwatch::BaselineWindow& window = windows[next];
    window.EvictOlderThan(window.NewestTimestamp() - kDayMs);
    benchmark::DoNotOptimize(window.Compute(0));
    next = (next + 1) % windows.size();
  }
}
BENCHMARK(BM_BaselineRefresh)->ArgName("window")->Arg(1000);

// The detectors, loaded from the bundled plugin files as the service loads them.
const driftwatch::DetectorSet& Detectors() {
  static driftwatch::PluginRegistry registry;
  static driftwatch::DetectorSet detectors;
  static const bool loaded = [] {
    std::vector<std::string> refusals;
    driftwatch::Status status = registry.LoadDirectory(driftwatch::BundledPluginDir(), &refusals);
    if (status.ok())
      status = driftwatch::BuildDetectorSet(driftwatch::Config{}, registry, &detectors);
    if (!status.ok()) {
      std::fprintf(stderr, "core_bench: cannot load the bundled plugins: %s\n",
                   status.message().c_str());
      std::exit(1);
    }
    return true;
  }();
  (void)loaded;
  return detectors;
}

// One sample through a STABLE service with a full window: scoring, both trigger plugins, the
// window, and a baseline refresh every refresh_every (50) samples, amortised.
void BM_ServiceMonitorProcess(benchmark::State& state) {
  const driftwatch::BaselineParams params;
  driftwatch::ServiceMonitor monitor(params, Detectors());
  const std::vector<driftwatch::Sample> stream = NormalSamples(kStreamLength, true);
  int64_t clock_ms = 0;
  size_t index = 0;
  auto next = [&] {
    driftwatch::Sample sample = stream[index];
    index = (index + 1) % stream.size();
    clock_ms += kSampleSpacingMs;
    sample.timestamp_ms = clock_ms;
    return sample;
  };
  while (monitor.window().size() < params.window_size) monitor.Process(next());
  for (auto _ : state) benchmark::DoNotOptimize(monitor.Process(next()));
  state.SetItemsProcessed(state.iterations());
  state.counters["stable"] = monitor.state() == driftwatch::ServiceState::kStable ? 1 : 0;
}
BENCHMARK(BM_ServiceMonitorProcess);

// POST /v1/telemetry's body through the API's parser and validator.
void BM_ParseSampleBody(benchmark::State& state) {
  const std::string body =
      R"({"service_id":"bench-svc-000042","latency_ms":152.123,"payload_kb":2.451})";
  const driftwatch::api::AcceptanceClock clock{driftwatch::NowMs(), kMaxFutureMs};
  for (auto _ : state) {
    driftwatch::IncomingSample sample;
    benchmark::DoNotOptimize(driftwatch::api::ParseSampleBody(body, clock, &sample));
  }
}
BENCHMARK(BM_ParseSampleBody);

// A 1000-sample batch body with RFC 3339 timestamps, as batch_ingest sends it; per sample.
void BM_ParseBatchBody(benchmark::State& state) {
  constexpr int kItems = 1000;
  std::string body = "[";
  for (int i = 0; i < kItems; ++i) {
    char item[160];
    std::snprintf(item, sizeof item,
                  "%s{\"service_id\":\"bench-svc-%06d\",\"latency_ms\":152.123,"
                  "\"payload_kb\":2.451,\"timestamp\":\"2026-01-12T10:30:45.%03dZ\"}",
                  i == 0 ? "" : ",", i % 100, i % 1000);
    body += item;
  }
  body += "]";
  const driftwatch::api::AcceptanceClock clock{driftwatch::NowMs(), kMaxFutureMs};
  for (auto _ : state) {
    std::vector<driftwatch::IncomingSample> samples;
    benchmark::DoNotOptimize(driftwatch::api::ParseBatchBody(body, clock, &samples));
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_ParseBatchBody);

}  // namespace

BENCHMARK_MAIN();
