#include "replay/replay_cli.h"

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "replay/replay.h"

namespace driftwatch::replay {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "Usage: driftwatch replay [--config FILE] [--plugin-dir DIR]... [--labels FILE] [--json]\n"
    "                         [--strict] INPUT...\n"
    "\n"
    "Runs recorded telemetry through the service's detection pipeline, offline and as fast as\n"
    "the machine allows, and prints every transition: exactly those the server would record\n"
    "for the same samples in the same order. See docs/replay.md.\n"
    "\n"
    "INPUT is a CSV file (timestamp,value as in the Numenta Anomaly Benchmark, or a header\n"
    "naming service_id, latency_ms, payload_kb, endpoint, timestamp columns), a JSON Lines file\n"
    "of samples (.jsonl, .ndjson), or a directory of them (searched recursively). A file\n"
    "without a service_id column is one service named after the file.\n"
    "\n"
    "A sample's endpoint is checked as the server checks it. With series.per_endpoint: true in\n"
    "the config, a sample that names one also goes to its (service, endpoint) series, up to\n"
    "series.max_endpoints_per_service per service; those transitions name the endpoint.\n"
    "\n"
    "  --config FILE      the service's YAML config file (baseline, pipeline, series)\n"
    "  --plugin-dir DIR   load plugins from DIR too (repeatable)\n"
    "  --labels FILE      score the detections with NAB's method against label windows in\n"
    "                     NAB's combined_windows.json format\n"
    "  --json             one JSON object per transition, then one {\"summary\": ...}\n"
    "  --strict           stop at the first row the server would refuse, naming its file\n"
    "                     and line (default: skip such rows and count them)\n"
    "  --help             print this help and exit\n"
    "\n"
    "Exit status: 0 done, 1 failure (unreadable or bad input, bad config), 2 usage error.\n";

struct Flags {
  std::optional<std::string> config_file;
  std::vector<std::string> plugin_dirs;
  ReplayOptions options;
  bool help = false;
};

std::optional<std::string> ParseFlags(int argc, char** argv, Flags* flags) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (options_done || !arg.starts_with("-") || arg == "-") {
      flags->options.inputs.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
    } else if (arg == "--help" || arg == "-h") {
      flags->help = true;
    } else if (arg == "--json") {
      flags->options.json = true;
    } else if (arg == "--strict") {
      flags->options.skip_bad = false;
    } else if (arg == "--skip-bad") {  // the default; accepted as the earlier spelling
      flags->options.skip_bad = true;
    } else {
      std::string name(arg);
      std::optional<std::string> value;
      if (const size_t equals = name.find('='); equals != name.npos) {
        value = name.substr(equals + 1);
        name.resize(equals);
      }
      if (name != "--config" && name != "--plugin-dir" && name != "--labels") {
        return "unknown option '" + std::string(arg) + "'";
      }
      if (!value) {
        if (i + 1 >= argc) return "option '" + name + "' needs a value";
        value = argv[++i];
      }
      if (value->empty()) return "option '" + name + "' needs a non-empty value";
      if (name == "--config") {
        flags->config_file = *value;
      } else if (name == "--plugin-dir") {
        flags->plugin_dirs.push_back(*value);
      } else {
        flags->options.labels_file = *value;
      }
    }
  }
  if (!flags->help && flags->options.inputs.empty()) {
    return "no INPUT: name at least one file or directory";
  }
  return std::nullopt;
}

// As the service loads them: the config's directories, then --plugin-dir, after the bundled ones.
Status LoadPlugins(const Config& config, const std::vector<std::string>& flag_dirs,
                   PluginRegistry* registry) {
  std::vector<std::string> dirs = config.plugin_dirs;
  dirs.insert(dirs.end(), flag_dirs.begin(), flag_dirs.end());
  std::vector<std::string> warnings;
  Status loaded = driftwatch::LoadPlugins(registry, dirs, &warnings);
  for (const std::string& warning : warnings) {
    std::fprintf(stderr, "driftwatch replay: warning: %s\n", warning.c_str());
  }
  return loaded;
}

}  // namespace

int ReplayMain(int argc, char** argv) {
  Flags flags;
  if (std::optional<std::string> error = ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr, "driftwatch replay: %s\nTry 'driftwatch replay --help'.\n",
                 error->c_str());
    return kExitUsage;
  }
  if (flags.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  Config config;
  if (flags.config_file) {
    if (Status loaded = LoadConfigFile(*flags.config_file, &config); !loaded.ok()) {
      std::fprintf(stderr, "driftwatch replay: %s\n", loaded.message().c_str());
      return kExitFailure;
    }
  }
  // Declared before the detectors, which live in its libraries.
  PluginRegistry registry;
  if (Status loaded = LoadPlugins(config, flags.plugin_dirs, &registry); !loaded.ok()) {
    std::fprintf(stderr, "driftwatch replay: %s\n", loaded.message().c_str());
    return kExitFailure;
  }
  DetectorSet detectors;
  if (Status built = BuildDetectorSet(config, registry, &detectors); !built.ok()) {
    std::fprintf(stderr, "driftwatch replay: %s\n", built.message().c_str());
    return kExitFailure;
  }
  flags.options.series = config.series;
  return RunReplay(flags.options, config.baseline, detectors, stdout, stderr);
}

}  // namespace driftwatch::replay
