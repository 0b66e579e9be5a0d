// memory_bench: resident memory of the engine, idle and per monitored service with a full window.
//
//   memory_bench --services N [--window 1000] [--extra 20] [--values random|measured|decimal]
//                [--endpoints 0] [--id-padding 0]
//
// Drives the real Engine in process with the bundled detector plugins and a storage backend that
// keeps nothing (defined below), so what grows is the engine's own per-service state, not a
// store's copy of the samples. Every service gets window + extra normal samples, round-robin,
// which fills its window (docs/behaviour.md, State machine: a few |z| > 3 samples may be held
// back, hence the extra).
// Latencies are N(150, 25) ms and payloads N(2.45, 0.76) KB, sent as --values says, because the
// window's encoding costs what the values need:
//   random   full-precision doubles for both (the default)
//   measured as a client that reads a clock and counts bytes sends them: a full-precision latency,
//            payload = whole bytes / 1024
//   decimal  both printed with three decimals and parsed back, as a client sending "%.3f" does
// With --endpoints E (series.per_endpoint on) each service's samples name its E endpoints in
// turn, E times as many rounds, so that every endpoint series fills its window too and the
// service's own series still sees every sample (docs/behaviour.md, "Endpoint series"); the
// per-series figures then cover services * (1 + E) series. --id-padding P makes each service id
// P characters longer, so that services can be compared with endpoint series whose keys
// ("<service_id>#<endpoint>") are as long.
// Reads VmRSS from /proc/self/status. Prints one JSON object.
#include <driftwatch/plugin.h>
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/bench_rows.h"
#include "bench/null_storage.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "core/storage.h"
#include "core/timestamp.h"

namespace {

constexpr uint32_t kServicesPerSubmit = 1024;
constexpr int64_t kSampleSpacingMs = 100;

uint64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

// Bytes malloc has handed out and not had back, over every arena: the live heap, without the
// fragmentation and page rounding RSS also shows.
uint64_t HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

enum class Values { kRandom, kMeasured, kDecimal };

bool ParseValues(std::string_view name, Values* values) {
  if (name == "random") {
    *values = Values::kRandom;
  } else if (name == "measured") {
    *values = Values::kMeasured;
  } else if (name == "decimal") {
    *values = Values::kDecimal;
  } else {
    return false;
  }
  return true;
}

const char* ValuesName(Values values) {
  switch (values) {
    case Values::kMeasured:
      return "measured";
    case Values::kDecimal:
      return "decimal";
    case Values::kRandom:
      break;
  }
  return "random";
}

// `value` printed with three decimals and parsed back.
double ThreeDecimals(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3f", value);
  return std::strtod(text, nullptr);
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "memory_bench: %s\n", message.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t services = 0;
  uint32_t window = 1000;
  uint32_t extra = 20;
  uint32_t endpoints = 0;
  uint32_t id_padding = 0;
  Values values = Values::kRandom;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--values") {
      if (!ParseValues(argv[i + 1], &values)) {
        services = 0;
        break;
      }
      continue;
    }
    const uint32_t value = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    if (flag == "--services") {
      services = value;
    } else if (flag == "--window") {
      window = value;
    } else if (flag == "--extra") {
      extra = value;
    } else if (flag == "--endpoints") {
      endpoints = value;
    } else if (flag == "--id-padding") {
      id_padding = value;
    } else {
      services = 0;
      break;
    }
  }
  if (services == 0 || window == 0 || argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: memory_bench --services N [--window 1000] [--extra 20] "
                 "[--values random|measured|decimal] [--endpoints 0] [--id-padding 0]\n");
    return 2;
  }

  const uint64_t rss_start = RssBytes();
  driftwatch::Config config;
  config.baseline.window_size = window;
  config.series.per_endpoint = endpoints > 0;
  config.series.max_endpoints_per_service = std::max<uint32_t>(endpoints, 1);
  driftwatch::PluginRegistry registry;
  std::vector<std::string> refusals;
  driftwatch::Status status = registry.LoadDirectory(driftwatch::BundledPluginDir(), &refusals);
  driftwatch::DetectorSet detectors;
  if (status.ok()) status = driftwatch::BuildDetectorSet(config, registry, &detectors);
  std::unique_ptr<driftwatch::Store> store;
  if (status.ok()) status = driftwatch::Store::Open(&driftwatch::bench::kNullStorage, {}, &store);
  std::unique_ptr<driftwatch::Engine> engine;
  if (status.ok()) status = driftwatch::Engine::Create(config, detectors, store.get(), &engine);
  if (!status.ok()) Die(status.message());
  engine->Start();
  const uint64_t rss_idle = RssBytes();

  std::vector<std::string> names;
  names.reserve(services);
  for (uint32_t i = 0; i < services; ++i) {
    names.push_back(driftwatch::bench::ServiceName(i) + std::string(id_padding, 'x'));
  }
  std::vector<std::string> endpoint_names;
  for (uint32_t i = 0; i < endpoints; ++i)
    endpoint_names.push_back("GET /api/e" + std::to_string(i));
  const uint32_t rounds = (window + extra) * std::max<uint32_t>(endpoints, 1);
  const uint64_t series = static_cast<uint64_t>(services) * (1 + endpoints);
  const uint64_t rss_names = RssBytes();  // the benchmark's own copy of the ids, not the engine's
  const uint64_t heap_names = HeapBytes();

  std::mt19937_64 random(42);
  std::normal_distribution<double> latency(150.0, 25.0);
  std::normal_distribution<double> payload(2.45, 0.76);
  const int64_t first_ms = driftwatch::NowMs() - static_cast<int64_t>(rounds) * kSampleSpacingMs;
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t round = 0; round < rounds; ++round) {
    const std::string no_endpoint;
    const std::string& endpoint = endpoints > 0 ? endpoint_names[round % endpoints] : no_endpoint;
    const int64_t timestamp_ms = first_ms + static_cast<int64_t>(round) * kSampleSpacingMs;
    for (uint32_t begin = 0; begin < services; begin += kServicesPerSubmit) {
      const uint32_t end = std::min(services, begin + kServicesPerSubmit);
      std::vector<driftwatch::IncomingSample> batch;
      batch.reserve(end - begin);
      for (uint32_t s = begin; s < end; ++s) {
        double latency_ms = std::max(1.0, latency(random));
        double payload_kb = std::max(0.0, payload(random));
        if (values == Values::kMeasured) {
          payload_kb = std::floor(payload_kb * 1024.0) / 1024.0;  // whole bytes / 1024
        } else if (values == Values::kDecimal) {
          latency_ms = ThreeDecimals(latency_ms);
          payload_kb = ThreeDecimals(payload_kb);
        }
        batch.emplace_back(names[s], driftwatch::Sample{timestamp_ms, latency_ms, payload_kb},
                           endpoint);
      }
      for (;;) {
        std::vector<driftwatch::IncomingSample> attempt = batch;
        const driftwatch::SubmitResult result = engine->Submit(std::move(attempt));
        if (result == driftwatch::SubmitResult::kAccepted) break;
        if (result != driftwatch::SubmitResult::kQueueFull) Die("Submit refused the samples");
        engine->WaitIdle();
      }
    }
  }
  engine->WaitIdle();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the writer's last commit
  const uint64_t rss_full = RssBytes();
  const uint64_t heap_full = HeapBytes();
  malloc_trim(0);
  const uint64_t rss_trimmed = RssBytes();

  uint32_t full_windows = 0;
  uint32_t stable = 0;
  for (const driftwatch::ServiceHealth& health : engine->ListServices(true)) {
    if (health.window_samples == window) ++full_windows;
    if (health.state == driftwatch::ServiceState::kStable) ++stable;
  }
  const uint64_t samples = static_cast<uint64_t>(services) * rounds;
  // Per service: with --endpoints, a service's figure includes its endpoint series.
  auto per_service = [&](uint64_t rss) {
    return (static_cast<double>(rss) - static_cast<double>(rss_names)) / services;
  };
  const double heap = static_cast<double>(heap_full) - static_cast<double>(heap_names);
  std::printf(
      "{\"services\":%u,\"endpoints\":%u,\"series\":%llu,\"values\":\"%s\",\"window\":%u,"
      "\"samples\":%llu,\"seconds\":%.3f,"
      "\"engine_samples_per_second\":%.0f,\"full_windows\":%u,\"stable\":%u,"
      "\"rss_start_bytes\":%llu,\"rss_idle_bytes\":%llu,\"rss_full_bytes\":%llu,"
      "\"rss_trimmed_bytes\":%llu,\"bytes_per_service\":%.0f,\"bytes_per_service_trimmed\":%.0f,"
      "\"heap_bytes_per_service\":%.0f,\"heap_bytes_per_series\":%.0f}\n",
      services, endpoints, static_cast<unsigned long long>(series), ValuesName(values), window,
      static_cast<unsigned long long>(samples), seconds, static_cast<double>(samples) / seconds,
      full_windows, stable, static_cast<unsigned long long>(rss_start),
      static_cast<unsigned long long>(rss_idle), static_cast<unsigned long long>(rss_full),
      static_cast<unsigned long long>(rss_trimmed), per_service(rss_full), per_service(rss_trimmed),
      heap / services, heap / static_cast<double>(series));
  engine->Stop();
  return 0;
}
