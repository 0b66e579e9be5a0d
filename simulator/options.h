// driftwatch-sim's command line (docs/behaviour.md, Command line).
#pragma once

#include <cstdint>
#include <string>

#include "simulator/traffic_profile.h"

namespace driftwatch::sim {

constexpr double kDefaultRatePerSecond = 10.0;
constexpr const char* kDefaultService = "test-payment-service";
constexpr const char* kDefaultUrl = "http://localhost:8000";
constexpr uint64_t kDefaultSeed = 42;

struct Options {
  Mode mode = Mode::kNormal;
  double duration_s = 0;
  double rate_per_s = kDefaultRatePerSecond;
  std::string service = kDefaultService;
  std::string url = kDefaultUrl;
  uint64_t seed = kDefaultSeed;
  bool synthetic_time = false;
  bool verify = false;
  bool json = false;

  // duration x rate, rounded: the samples of the scenario.
  int64_t TotalSamples() const;
};

enum class ParseOutcome { kRun, kHelp, kVersion, kError };

// Reads argv ("--flag value" or "--flag=value"). On kError, *error says what is wrong.
ParseOutcome ParseArguments(int argc, const char* const argv[], Options* options,
                            std::string* error);

std::string UsageText();

}  // namespace driftwatch::sim
