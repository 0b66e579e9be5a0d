// The synthetic half of docs/detection.md (bench/detection.sh): how fast each pipeline catches
// steps, creeps and a doubling of the variance, and how often it cries wolf on noise with no
// drift. Runs samples through the same ServiceMonitor and detector plugins as the service and
// `driftwatch replay`, at 10 samples/s of synthetic time, and prints Markdown tables.
//
//   detection_quality [--seeds N] [--noise-samples N] NAME=CONFIG.yaml|NAME=default ...
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "core/service_monitor.h"

namespace {

using driftwatch::Config;
using driftwatch::DetectorSet;
using driftwatch::PluginRegistry;
using driftwatch::Sample;
using driftwatch::ServiceMonitor;
using driftwatch::ServiceState;
using driftwatch::Status;

constexpr int64_t kStepMs = 100;  // 10 samples/s
constexpr int kWarmup = 600;      // 60 s of normal traffic before the change
constexpr int kAfter = 3000;      // then 300 s to catch it
constexpr double kMean = 150.0;
constexpr double kSigma = 25.0;

struct Pipeline {
  std::string name;
  Config config;
  DetectorSet detectors;
};

// The mean and standard deviation of sample i (0-based, counting from the change).
using Shape = std::function<void(int i, double* mean, double* sigma)>;

struct Scenario {
  const char* name;
  Shape shape;
};

struct Outcome {
  int detected = 0;
  int early = 0;  // drifts before the change (false alarms during warm-up)
  std::vector<int> delays;
};

Outcome RunScenario(const Pipeline& pipeline, const Scenario& scenario, int seeds) {
  Outcome outcome;
  for (int seed = 0; seed < seeds; ++seed) {
    ServiceMonitor monitor(pipeline.config.baseline, pipeline.detectors);
    std::mt19937_64 random(static_cast<uint64_t>(seed) * 7919 + 17);
    std::normal_distribution<double> unit(0.0, 1.0);
    int64_t timestamp = 1700000000000;
    bool early = false;
    for (int i = 0; i < kWarmup + kAfter; ++i) {
      double mean = kMean;
      double sigma = kSigma;
      if (i >= kWarmup) scenario.shape(i - kWarmup, &mean, &sigma);
      const double latency = std::max(1.0, mean + sigma * unit(random));
      const auto result = monitor.Process(Sample{timestamp, latency, std::nan("")});
      timestamp += kStepMs;
      if (!result.transition || result.transition->to != ServiceState::kDriftDetected) continue;
      if (i < kWarmup) {
        early = true;
        continue;
      }
      if (!early) {
        ++outcome.detected;
        outcome.delays.push_back(i - kWarmup + 1);
      }
      break;
    }
    if (early) ++outcome.early;
  }
  return outcome;
}

// Entries into DRIFT_DETECTED over `samples` samples of noise with no drift, per million.
double FalseDriftsPerMillion(const Pipeline& pipeline, bool lognormal, int seeds,
                             int64_t samples_per_seed) {
  uint64_t drifts = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    ServiceMonitor monitor(pipeline.config.baseline, pipeline.detectors);
    std::mt19937_64 random(static_cast<uint64_t>(seed) * 104729 + 3);
    std::normal_distribution<double> unit(0.0, 1.0);
    int64_t timestamp = 1700000000000;
    for (int64_t i = 0; i < samples_per_seed; ++i) {
      // Log-normal: median 150, shape 0.5 (a heavy right tail, as latencies have).
      const double latency = lognormal ? kMean * std::exp(0.5 * unit(random))
                                       : std::max(1.0, kMean + kSigma * unit(random));
      const auto result = monitor.Process(Sample{timestamp, latency, std::nan("")});
      timestamp += kStepMs;
      if (result.transition && result.transition->to == ServiceState::kDriftDetected) ++drifts;
    }
  }
  return 1e6 * static_cast<double>(drifts) / (static_cast<double>(seeds) * samples_per_seed);
}

double Median(std::vector<int> values) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2.0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: detection_quality [--seeds N] [--noise-samples N] "
               "NAME=CONFIG.yaml|NAME=default ...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 200;
  int64_t noise_samples = 15000;  // per seed: 3 million in all with 200 seeds
  std::vector<std::pair<std::string, std::string>> named;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seeds" && i + 1 < argc) {
      seeds = std::atoi(argv[++i]);
    } else if (arg == "--noise-samples" && i + 1 < argc) {
      noise_samples = std::atoll(argv[++i]);
    } else if (const size_t equals = arg.find('='); equals != std::string::npos) {
      named.emplace_back(arg.substr(0, equals), arg.substr(equals + 1));
    } else {
      return Usage();
    }
  }
  if (named.empty() || seeds <= 0 || noise_samples <= 0) return Usage();

  PluginRegistry registry;
  std::vector<std::string> refusals;
  if (Status loaded = registry.LoadDirectory(driftwatch::BundledPluginDir(), &refusals);
      !loaded.ok()) {
    std::fprintf(stderr, "detection_quality: %s\n", loaded.message().c_str());
    return 1;
  }
  std::vector<Pipeline> pipelines(named.size());
  for (size_t p = 0; p < named.size(); ++p) {
    pipelines[p].name = named[p].first;
    if (named[p].second != "default") {
      if (Status loaded = driftwatch::LoadConfigFile(named[p].second, &pipelines[p].config);
          !loaded.ok()) {
        std::fprintf(stderr, "detection_quality: %s\n", loaded.message().c_str());
        return 1;
      }
    }
    if (Status built =
            driftwatch::BuildDetectorSet(pipelines[p].config, registry, &pipelines[p].detectors);
        !built.ok()) {
      std::fprintf(stderr, "detection_quality: %s\n", built.message().c_str());
      return 1;
    }
  }

  const double creep15 = 900;  // x1.5 over 90 s
  const double creep2 = 600;   // x2 over 60 s
  const std::vector<Scenario> scenarios = {
      {"step +1 sigma", [](int, double* mean, double*) { *mean = kMean + kSigma; }},
      {"step +2 sigma", [](int, double* mean, double*) { *mean = kMean + 2 * kSigma; }},
      {"step +3 sigma", [](int, double* mean, double*) { *mean = kMean + 3 * kSigma; }},
      {"creep to x1.5 over 90 s",
       [creep15](int i, double* mean, double*) {
         *mean = kMean * (1.0 + 0.5 * std::min(1.0, (i + 1) / creep15));
       }},
      {"creep to x2 over 60 s",
       [creep2](int i, double* mean, double*) {
         *mean = kMean * (1.0 + std::min(1.0, (i + 1) / creep2));
       }},
      {"variance x2", [](int, double*, double* sigma) { *sigma = kSigma * std::sqrt(2.0); }},
  };

  std::printf(
      "Synthetic scenarios, %d seeds each: N(150, 25) ms at 10 samples/s, the change "
      "after 60 s, then 300 s to catch it. Cells: detection rate / median samples from "
      "the change to DRIFT_DETECTED.\n\n",
      seeds);
  std::printf("| scenario |");
  for (const Pipeline& pipeline : pipelines) std::printf(" %s |", pipeline.name.c_str());
  std::printf("\n| --- |");
  for (size_t p = 0; p < pipelines.size(); ++p) std::printf(" --- |");
  std::printf("\n");
  for (const Scenario& scenario : scenarios) {
    std::printf("| %s |", scenario.name);
    for (const Pipeline& pipeline : pipelines) {
      const Outcome outcome = RunScenario(pipeline, scenario, seeds);
      std::printf(" %.1f %% / %.0f |", 100.0 * outcome.detected / seeds, Median(outcome.delays));
      std::fflush(stdout);
    }
    std::printf("\n");
  }
  std::printf("\nFalse drifts per million samples with no drift (%d seeds x %lld samples):\n\n",
              seeds, static_cast<long long>(noise_samples));
  std::printf("| noise |");
  for (const Pipeline& pipeline : pipelines) std::printf(" %s |", pipeline.name.c_str());
  std::printf("\n| --- |");
  for (size_t p = 0; p < pipelines.size(); ++p) std::printf(" --- |");
  std::printf("\n");
  for (const bool lognormal : {false, true}) {
    std::printf("| %s |", lognormal ? "log-normal (median 150, shape 0.5)" : "Gaussian N(150, 25)");
    for (const Pipeline& pipeline : pipelines) {
      std::printf(" %.2f |", FalseDriftsPerMillion(pipeline, lognormal, seeds, noise_samples));
      std::fflush(stdout);
    }
    std::printf("\n");
  }
  return 0;
}
