// driftwatch-sim: synthetic telemetry for DriftWatch, and its acceptance check (docs/behaviour.md,
// Simulator and Command line).
#include <unistd.h>

#include <iostream>

#include "http_client/http_client.h"
#include "simulator/driftwatch_api.h"
#include "simulator/options.h"
#include "simulator/progress.h"
#include "simulator/report.h"
#include "simulator/simulation.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCriteriaFailed = 1;
constexpr int kExitUsageOrConnection = 2;

}  // namespace

int main(int argc, char** argv) {
  using namespace driftwatch::sim;
  Options options;
  std::string error;
  switch (ParseArguments(argc, argv, &options, &error)) {
    case ParseOutcome::kHelp:
      std::cout << UsageText();
      return kExitOk;
    case ParseOutcome::kVersion:
      std::cout << "driftwatch-sim " << DRIFTWATCH_VERSION << "\n";
      return kExitOk;
    case ParseOutcome::kError:
      std::cerr << "driftwatch-sim: " << error << "\nTry 'driftwatch-sim --help'.\n";
      return kExitUsageOrConnection;
    case ParseOutcome::kRun:
      break;
  }

  driftwatch::http::Url url;
  driftwatch::http::ParseUrl(options.url, &url);  // already validated by ParseArguments
  driftwatch::http::HttpClient http(url);
  DriftWatchApi api(&http, options.service);
  Progress progress(&std::cerr, ::isatty(STDERR_FILENO) == 1,
                    "driftwatch-sim " + ModeName(options.mode) + ":", options.TotalSamples());
  Simulation simulation(options, &api, &progress);
  RunResult result;
  if (const driftwatch::Status ran = simulation.Run(&result); !ran.ok()) {
    progress.Finish();
    std::cerr << "driftwatch-sim: " << ran.message() << "\n";
    return kExitUsageOrConnection;
  }
  if (options.json) {
    std::cout << ResultJson(options, result) << "\n";
  } else {
    PrintSummary(options, result, std::cout);
  }
  if (result.verdict && !result.verdict->passed) return kExitCriteriaFailed;
  return kExitOk;
}
