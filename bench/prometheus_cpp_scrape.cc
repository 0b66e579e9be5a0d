// What prometheus-cpp 1.0.1 (Debian's prometheus-cpp-dev) costs to expose the per-service series
// of 100,000 services as a Collectable would: build the MetricFamily vectors, then serialize them
// with its TextSerializer. Not built by CMake (the product does not use the library; see
// bench/analysis.md, "GET /metrics"); build and run it by hand:
//   g++ -O2 -std=c++20 bench/prometheus_cpp_scrape.cc -o /tmp/pcpp -lprometheus-cpp-core &&
//   /tmp/pcpp
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <time.h>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>
double Cpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
int main() {
  const int n = 100000;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    char b[32];
    std::snprintf(b, sizeof b, "bench-svc-%06d", i);
    ids.push_back(b);
  }
  for (int round = 0; round < 3; ++round) {
    const double start = Cpu();
    std::vector<prometheus::MetricFamily> families(5);
    const char* names[] = {"driftwatch_service_state", "driftwatch_service_zscore",
                           "driftwatch_service_baseline_latency_seconds",
                           "driftwatch_service_samples_total",
                           "driftwatch_service_last_transition_timestamp_seconds"};
    for (int f = 0; f < 5; ++f) {
      families[f].name = names[f];
      families[f].help = "h";
      families[f].type = f == 3 ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
    }
    const char* states[] = {"INSUFFICIENT_DATA", "STABLE", "DRIFT_DETECTED"};
    const char* stats[] = {"mean", "stddev", "p50", "p95", "p99"};
    for (int i = 0; i < n; ++i) {
      for (int s = 0; s < 3; ++s) {
        prometheus::ClientMetric m;
        m.label = {{"service_id", ids[i]}, {"state", states[s]}};
        m.gauge.value = s == 1;
        families[0].metric.push_back(std::move(m));
      }
      {
        prometheus::ClientMetric m;
        m.label = {{"service_id", ids[i]}};
        m.gauge.value = 0.123456789 * i;
        families[1].metric.push_back(std::move(m));
      }
      for (int s = 0; s < 5; ++s) {
        prometheus::ClientMetric m;
        m.label = {{"service_id", ids[i]}, {"stat", stats[s]}};
        m.gauge.value = 0.15 + i * 1e-7;
        families[2].metric.push_back(std::move(m));
      }
      {
        prometheus::ClientMetric m;
        m.label = {{"service_id", ids[i]}};
        m.counter.value = 22;
        families[3].metric.push_back(std::move(m));
      }
      {
        prometheus::ClientMetric m;
        m.label = {{"service_id", ids[i]}};
        m.gauge.value = 1768176000.123;
        families[4].metric.push_back(std::move(m));
      }
    }
    const double built = Cpu();
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    const std::string body = out.str();
    const double done = Cpu();
    std::printf("build %.3f s, serialize %.3f s, total %.3f s, %zu bytes\n", built - start,
                done - built, done - start, body.size());
  }
}
