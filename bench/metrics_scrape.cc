// metrics_scrape: what GET /metrics costs at scale, in process (no HTTP), on the real Engine with
// the bundled detector plugins and a storage backend that keeps nothing.
//
//   metrics_scrape [--services 100000] [--seconds 5]
//
// 1. Makes --services services STABLE, then times whole scrapes (GetStatus, GetMetrics,
//    CollectServiceMetrics and RenderMetrics, as the handler does) in CPU time of the scraping
//    thread, with metrics.per_service_limit above the service count: every service's series.
// 2. Single-sample ingest (one Submit of one sample at a time, one thread) for --seconds without
//    scrapes, then for --seconds with a scrape every second on another thread, made as the
//    handler makes it (the copy on that thread, the text on a MetricsRenderThread at its lower
//    priority): the throughput of each, and the longest Submit of each.
// Lock holds: a scrape takes no shard state lock (it reads the figures each series' shard
// publishes, core/series_figures.h); what it holds is the registry's lock, shared, while it lists
// the series a few dozen at a time. Every scrape, those of step 1 and those during step 2, asks
// the engine to time each of those holds (LockHoldTimes, core/engine.h): the longest in wall time
// (which also counts the moments the scraping thread was preempted while holding it), the longest
// in CPU time of the scraping thread, how many took over 1 ms of wall time, their 99.9th
// percentile in wall time; and how many reads of a series' figures were made again because its
// shard published meanwhile (figure_rereads), and listings started over (the table grew).
// collect_us_per_256_services: the slowest CollectServiceMetrics per 256 services.
// Prints one JSON object.
#include <driftwatch/plugin.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/metrics_text.h"
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

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics_scrape: %s\n", message.c_str());
  std::exit(1);
}

double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

double Us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

// The 99.9th percentile (nearest rank) of the holds' wall times, in us.
double P999Us(std::vector<int64_t> holds) {
  if (holds.empty()) return 0;
  const size_t rank = (holds.size() * 999 + 999) / 1000 - 1;
  std::nth_element(holds.begin(), holds.begin() + static_cast<std::ptrdiff_t>(rank), holds.end());
  return Us(holds[rank]);
}

struct Scrape {
  double cpu_seconds = 0;
  size_t bytes = 0;
  double collect_ms = 0;  // CollectServiceMetrics alone, wall time
};

Scrape ScrapeOnce(const driftwatch::Engine& engine, uint32_t limit,
                  driftwatch::LockHoldTimes* holds) {
  const double start = ThreadCpuSeconds();
  driftwatch::api::MetricsInput input;
  input.version = "bench";
  input.status = engine.GetStatus();
  input.metrics = engine.GetMetrics();
  const auto collect_start = std::chrono::steady_clock::now();
  input.services = engine.CollectServiceMetrics(holds);
  const double collect_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - collect_start)
          .count();
  input.per_service_limit = limit;
  const std::string body = driftwatch::api::RenderMetrics(input);
  return {ThreadCpuSeconds() - start, body.size(), collect_ms};
}

struct IngestRun {
  double per_second = 0;
  double longest_submit_ms = 0;
};

IngestRun Ingest(driftwatch::Engine& engine, const std::vector<std::string>& names, double seconds,
                 int64_t* clock_ms) {
  std::mt19937_64 random(7);
  std::normal_distribution<double> latency(150.0, 25.0);
  uint64_t count = 0;
  double longest = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  auto now = start;
  while (now < end) {
    std::vector<driftwatch::IncomingSample> one;
    one.push_back({names[count % names.size()], {*clock_ms, std::max(1.0, latency(random)), 0}});
    if (count % names.size() == names.size() - 1) *clock_ms += kSampleSpacingMs;
    const auto before = std::chrono::steady_clock::now();
    if (engine.Submit(std::move(one)) != driftwatch::SubmitResult::kAccepted) {
      engine.WaitIdle();
    } else {
      ++count;
    }
    now = std::chrono::steady_clock::now();
    longest = std::max(longest, std::chrono::duration<double, std::milli>(now - before).count());
  }
  engine.WaitIdle();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {static_cast<double>(count) / elapsed, longest};
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t services = 100000;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--services") == 0) {
      services = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    } else if (std::strcmp(argv[i], "--seconds") == 0) {
      seconds = std::strtod(argv[i + 1], nullptr);
    } else {
      Die("usage: metrics_scrape [--services N] [--seconds S]");
    }
  }
  driftwatch::Config config;
  // A small window: the point is many services with a baseline, not their windows' memory.
  config.baseline.min_samples = 20;
  config.baseline.window_size = 20;
  config.metrics.per_service_limit = services + 1;
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

  std::vector<std::string> names;
  names.reserve(services);
  for (uint32_t i = 0; i < services; ++i) names.push_back(driftwatch::bench::ServiceName(i));
  std::mt19937_64 random(42);
  std::normal_distribution<double> latency(150.0, 25.0);
  int64_t clock_ms = driftwatch::NowMs() - 3600 * 1000;
  for (uint32_t round = 0; round < config.baseline.min_samples + 2; ++round) {
    for (uint32_t begin = 0; begin < services; begin += kServicesPerSubmit) {
      std::vector<driftwatch::IncomingSample> batch;
      for (uint32_t s = begin; s < std::min(services, begin + kServicesPerSubmit); ++s) {
        batch.push_back({names[s], {clock_ms, std::max(1.0, latency(random)), 0}});
      }
      while (engine->Submit(std::vector<driftwatch::IncomingSample>(batch)) !=
             driftwatch::SubmitResult::kAccepted) {
        engine->WaitIdle();
      }
    }
    clock_ms += kSampleSpacingMs;
  }
  engine->WaitIdle();

  constexpr int kScrapes = 5;
  std::vector<double> cpu;
  size_t bytes = 0;
  double collect_ms = 0;
  driftwatch::LockHoldTimes idle_holds;  // scrapes alone
  idle_holds.registry_hold_ns.reserve(1 << 20);
  for (int i = 0; i < kScrapes; ++i) {
    const Scrape scrape = ScrapeOnce(*engine, config.metrics.per_service_limit, &idle_holds);
    cpu.push_back(scrape.cpu_seconds);
    bytes = scrape.bytes;
    collect_ms = std::max(collect_ms, scrape.collect_ms);
  }
  std::sort(cpu.begin(), cpu.end());

  const IngestRun quiet = Ingest(*engine, names, seconds, &clock_ms);
  std::atomic<bool> scraping{true};
  std::atomic<int> scrapes_done{0};
  driftwatch::LockHoldTimes busy_holds;  // scrapes during ingest; read after the join
  busy_holds.registry_hold_ns.reserve(1 << 20);
  double longest_scrape_ms = 0;  // wall time, the copy and the text; read after the join
  driftwatch::api::MetricsRenderThread renderer;
  std::thread scraper([&] {
    while (scraping) {
      const auto start = std::chrono::steady_clock::now();
      const auto next = start + std::chrono::seconds(1);
      // As Router::GetMetrics does when it may answer later.
      driftwatch::api::MetricsInput input;
      input.version = "bench";
      input.status = engine->GetStatus();
      input.metrics = engine->GetMetrics();
      input.services = engine->CollectServiceMetrics(&busy_holds);
      input.per_service_limit = config.metrics.per_service_limit;
      std::promise<size_t> rendered;
      renderer.Render(std::move(input),
                      [&rendered](const std::string& text) { rendered.set_value(text.size()); });
      rendered.get_future().get();
      longest_scrape_ms = std::max(longest_scrape_ms, std::chrono::duration<double, std::milli>(
                                                          std::chrono::steady_clock::now() - start)
                                                          .count());
      ++scrapes_done;
      while (scraping && std::chrono::steady_clock::now() < next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
  const IngestRun scraped = Ingest(*engine, names, seconds, &clock_ms);
  scraping = false;
  scraper.join();
  engine->Stop();

  const auto count = [](uint64_t value) { return static_cast<unsigned long long>(value); };
  std::printf(
      "{\"services\": %u, \"scrape_cpu_seconds_min\": %.3f, \"scrape_cpu_seconds_median\": %.3f, "
      "\"scrape_cpu_seconds_max\": %.3f, \"scrape_bytes\": %zu, \"collect_ms_max\": %.1f, "
      "\"collect_us_per_256_services\": %.1f, "
      "\"ingest_per_second_without_scrapes\": %.0f, \"ingest_per_second_with_scrapes\": %.0f, "
      "\"ingest_ratio\": %.3f, \"longest_submit_ms_without_scrapes\": %.3f, "
      "\"longest_submit_ms_with_scrapes\": %.3f, \"scrapes_during_ingest\": %d, "
      "\"registry_holds\": %llu, \"longest_registry_hold_us\": %.1f, "
      "\"longest_registry_hold_cpu_us\": %.1f, \"registry_holds_over_1ms\": %llu, "
      "\"p999_registry_hold_us\": %.1f, \"figure_rereads\": %llu, \"listing_restarts\": %llu, "
      "\"registry_holds_during_ingest\": %llu, "
      "\"longest_registry_hold_during_ingest_us\": %.1f, "
      "\"longest_registry_hold_cpu_during_ingest_us\": %.1f, "
      "\"registry_holds_over_1ms_during_ingest\": %llu, "
      "\"p999_registry_hold_during_ingest_us\": %.1f, \"figure_rereads_during_ingest\": %llu, "
      "\"listing_restarts_during_ingest\": %llu, \"longest_scrape_during_ingest_ms\": %.1f}\n",
      services, cpu.front(), cpu[cpu.size() / 2], cpu.back(), bytes, collect_ms,
      collect_ms * 1000.0 * 256.0 / static_cast<double>(services), quiet.per_second,
      scraped.per_second, scraped.per_second / quiet.per_second, quiet.longest_submit_ms,
      scraped.longest_submit_ms, scrapes_done.load(), count(idle_holds.registry_holds),
      Us(idle_holds.longest_registry_ns), Us(idle_holds.longest_registry_cpu_ns),
      count(idle_holds.registry_holds_over_1ms), P999Us(idle_holds.registry_hold_ns),
      count(idle_holds.figure_rereads), count(idle_holds.listing_restarts),
      count(busy_holds.registry_holds), Us(busy_holds.longest_registry_ns),
      Us(busy_holds.longest_registry_cpu_ns), count(busy_holds.registry_holds_over_1ms),
      P999Us(busy_holds.registry_hold_ns), count(busy_holds.figure_rereads),
      count(busy_holds.listing_restarts), longest_scrape_ms);
  return 0;
}
