// The config file: the defaults are those of docs/behaviour.md, Defaults, every key overrides, and
// every mistake stops with "FILE:LINE: full.dotted.key: why" (1-based lines), leaving the config
// as it was.
#include "core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Every setting as one line of text, so two configs compare in one EXPECT_EQ with a readable diff.
std::string Dump(const Config& c) {
  std::ostringstream out;
  const BaselineParams& b = c.baseline;
  out << "baseline " << b.min_samples << " " << b.window_size << " " << b.window_hours << " "
      << b.refresh_every << " " << b.holdback_zscore << " " << b.freeze_in_drift << "\npipeline";
  for (const DetectorConfig& d : c.triggers) out << " " << d.name;
  out << " / " << c.recovery.name << "\nretention " << c.retention.telemetry_days << " "
      << c.retention.events_days << "\nserver " << c.server.host << " " << c.server.port << " "
      << c.server.threads << " " << c.server.max_request_bytes << " " << c.server.header_timeout_ms
      << " " << c.server.body_timeout_ms << " " << c.server.keepalive_timeout_ms << " tokens:";
  for (const std::string& token : c.server.auth_tokens) out << " " << token;
  out << "\nstorage " << c.storage.plugin << " " << c.storage.path << " "
      << c.storage.commit_interval_ms << " " << c.storage.snapshot_every << "\ningest "
      << c.ingest.queue_capacity << " " << c.ingest.max_services << " " << c.ingest.durable << " "
      << c.ingest.max_future_seconds << "\nplugin dirs:";
  for (const std::string& dir : c.plugin_dirs) out << " " << dir;
  return out.str();
}

std::string Params(const DetectorConfig& detector) {
  std::string text;
  for (size_t i = 0; i < detector.params.size(); ++i) {
    text += detector.params[i].key + "=" + detector.params[i].value + "@" +
            std::to_string(detector.param_lines[i]) + " ";
  }
  return text;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("driftwatch_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "cfg.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `yaml` to cfg.yaml and loads it over the defaults.
  Status Load(const std::string& yaml, Config* config) {
    std::ofstream(path_) << yaml;
    return LoadConfigFile(path_, config);
  }
  // The error message for `yaml`, with the file's path replaced by "cfg.yaml".
  std::string ErrorFor(const std::string& yaml) {
    Config config;
    Status status = Load(yaml, &config);
    if (status.ok()) return "(loaded)";
    EXPECT_EQ(Dump(config), Dump(Config{})) << "a failed load changed the config";
    std::string message = status.message();
    if (message.rfind(path_, 0) == 0) message.replace(0, path_.size(), "cfg.yaml");
    return message;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(ConfigTest, DefaultsAreTheDocumentedDefaults) {
  const Config c;
  EXPECT_EQ(c.baseline.min_samples, 100u);
  EXPECT_EQ(c.baseline.window_size, 1000u);
  EXPECT_EQ(c.baseline.window_hours, 24.0);
  EXPECT_EQ(c.baseline.refresh_every, 50u);
  EXPECT_EQ(c.baseline.holdback_zscore, 3.0);
  EXPECT_TRUE(c.baseline.freeze_in_drift);
  ASSERT_EQ(c.triggers.size(), 2u);
  EXPECT_EQ(c.triggers[0].name, "zscore_severe");  // Rule 1 first: it wins a tie
  EXPECT_EQ(c.triggers[1].name, "moderate_window");
  EXPECT_EQ(c.recovery.name, "recovery");
  EXPECT_TRUE(c.triggers[0].params.empty());  // detector parameters default inside the plugins
  EXPECT_EQ(c.retention.telemetry_days, 7.0);
  EXPECT_EQ(c.retention.events_days, 30.0);
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 8000);
  EXPECT_EQ(c.storage.plugin, "sqlite");
  EXPECT_EQ(c.storage.path, "driftwatch.db");
  EXPECT_EQ(c.ingest.max_future_seconds, 3600u);
  EXPECT_EQ(c.source, "");
}

TEST_F(ConfigTest, EmptyFileKeepsTheDefaults) {
  Config config;
  ASSERT_TRUE(Load("# nothing here\n", &config).ok());
  EXPECT_EQ(Dump(config), Dump(Config{}));
  EXPECT_EQ(config.source, path_);
}

TEST_F(ConfigTest, ExampleFileWritesOutTheDefaults) {
  Config config;
  Status status = LoadConfigFile(DRIFTWATCH_TEST_SOURCE_DIR "/examples/driftwatch.yaml", &config);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(Dump(config), Dump(Config{}));
  // The detector defaults of docs/behaviour.md, Defaults, written out for the plugins to read.
  EXPECT_THAT(Params(config.triggers[0]), StartsWith("threshold=3.0@"));
  EXPECT_THAT(Params(config.triggers[0]), HasSubstr(" consecutive=5@"));
  EXPECT_THAT(Params(config.triggers[1]), StartsWith("threshold=2.5@"));
  EXPECT_THAT(Params(config.triggers[1]), HasSubstr(" count=10@"));
  EXPECT_THAT(Params(config.triggers[1]), HasSubstr(" window=20@"));
  EXPECT_THAT(Params(config.recovery), StartsWith("threshold=2.0@"));
  EXPECT_THAT(Params(config.recovery), HasSubstr(" consecutive=50@"));
}

TEST_F(ConfigTest, EveryKeyOverridesItsDefault) {
  Config config;
  Status status = Load(R"(baseline:
  min_samples: 30
  window_size: 300
  window_hours: 1.5
  refresh_every: 7
  holdback_zscore: 4.25
  freeze_in_drift: false
detectors:
  zscore_severe: {threshold: 3.5, consecutive: 4}
  my_recovery:
    threshold: "1.5"
pipeline:
  triggers: [zscore_severe, custom_rule]
  recovery: my_recovery
retention: {telemetry_days: 0.5, events_days: 90}
server:
  host: 127.0.0.1
  port: 9100
  threads: 8
  max_request_bytes: 4096
  header_timeout_ms: 100
  body_timeout_ms: 200
  keepalive_timeout_ms: 300
  auth_tokens: [alpha, beta]
storage: {plugin: memory, path: /tmp/x.db, commit_interval_ms: 5, snapshot_every: 9}
ingest: {queue_capacity: 16, max_services: 3, durable: true, max_future_seconds: 0}
plugins:
  dirs: [/opt/dw/plugins, ./more]
)",
                       &config);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(Dump(config),
            "baseline 30 300 1.5 7 4.25 0\n"
            "pipeline zscore_severe custom_rule / my_recovery\n"
            "retention 0.5 90\n"
            "server 127.0.0.1 9100 8 4096 100 200 300 tokens: alpha beta\n"
            "storage memory /tmp/x.db 5 9\n"
            "ingest 16 3 1 0\n"
            "plugin dirs: /opt/dw/plugins ./more");
  EXPECT_EQ(config.triggers[0].line, 13);
  EXPECT_EQ(config.triggers[1].line, 13);
  EXPECT_EQ(config.recovery.line, 14);
  EXPECT_EQ(Params(config.triggers[0]), "threshold=3.5@9 consecutive=4@9 ");
  EXPECT_EQ(Params(config.triggers[1]), "");  // no detectors.custom_rule: the plugin's defaults
  EXPECT_EQ(Params(config.recovery), "threshold=1.5@11 ");
  EXPECT_EQ(config.source, path_);
}

TEST_F(ConfigTest, FreezeInDriftIsASwitch) {
  for (const auto& [text, expected] : std::vector<std::pair<std::string, bool>>{
           {"false", false}, {"true", true}, {"off", false}}) {
    Config config;
    config.baseline.freeze_in_drift = !expected;
    const Status status = Load("baseline:\n  freeze_in_drift: " + text + "\n", &config);
    ASSERT_TRUE(status.ok()) << text << ": " << status.message();
    EXPECT_EQ(config.baseline.freeze_in_drift, expected) << text;
  }
  EXPECT_EQ(ErrorFor("baseline:\n  min_samples: 10\n  freeze_in_drift: sometimes\n"),
            "cfg.yaml:3: baseline.freeze_in_drift: expected true or false, got 'sometimes'");
  EXPECT_EQ(ErrorFor("baseline: {freeze_in_drift: 0}\n"),
            "cfg.yaml:1: baseline.freeze_in_drift: expected true or false, got '0'");
  EXPECT_EQ(ErrorFor("baseline:\n  freeze_in_drift: [false]\n"),
            "cfg.yaml:2: baseline.freeze_in_drift: expected true or false, got a list");
  // A file that fails elsewhere leaves the switch as it was.
  EXPECT_EQ(ErrorFor("baseline:\n  freeze_in_drift: false\n  window_size: abc\n"),
            "cfg.yaml:3: baseline.window_size: expected a whole number in [2, 1000000], got 'abc'");
}

TEST_F(ConfigTest, DetectorParamsAttachToTheDefaultPipeline) {
  Config config;
  ASSERT_TRUE(Load("detectors:\n  moderate_window:\n    count: 12\n", &config).ok());
  EXPECT_EQ(Params(config.triggers[1]), "count=12@3 ");
  EXPECT_EQ(config.triggers[1].line, 0);  // named by the built-in default, not the file
}

TEST_F(ConfigTest, UnknownKeysNameKeyAndLine) {
  EXPECT_EQ(ErrorFor("server:\n  port: 1\nbaselin:\n  min_samples: 5\n"),
            "cfg.yaml:3: baselin: unknown key (expected one of: baseline, detectors, pipeline, "
            "retention, server, storage, ingest, plugins, metrics)");
  EXPECT_EQ(ErrorFor("baseline:\n  min_sample: 5\n"),
            "cfg.yaml:2: baseline.min_sample: unknown key (expected one of: min_samples, "
            "window_size, window_hours, refresh_every, holdback_zscore, freeze_in_drift)");
  EXPECT_EQ(ErrorFor("\n\nserver: {host: a, colour: blue}\n"),
            "cfg.yaml:3: server.colour: unknown key (expected one of: host, port, threads, "
            "max_request_bytes, header_timeout_ms, body_timeout_ms, keepalive_timeout_ms, "
            "max_connections, access_log, "
            "auth_tokens)");
  EXPECT_EQ(ErrorFor("ingest:\n  durable: true\n  durable: false\n"),
            "cfg.yaml:3: ingest.durable: appears twice");
}

TEST_F(ConfigTest, WrongTypesNameKeyAndLine) {
  EXPECT_EQ(ErrorFor("baseline:\n  window_size:\n    a: 1\n"),
            "cfg.yaml:2: baseline.window_size: expected a whole number in [2, 1000000], got a map");
  EXPECT_EQ(ErrorFor("baseline:\n  window_size: abc\n"),
            "cfg.yaml:2: baseline.window_size: expected a whole number in [2, 1000000], got 'abc'");
  EXPECT_EQ(ErrorFor("baseline:\n  refresh_every: 1.5\n"),
            "cfg.yaml:2: baseline.refresh_every: expected a whole number >= 1, got '1.5'");
  EXPECT_EQ(ErrorFor("server:\n  port: -1\n"),
            "cfg.yaml:2: server.port: expected a whole number in [0, 65535], got '-1'");
  EXPECT_EQ(ErrorFor("server:\n  port:\n"),
            "cfg.yaml:2: server.port: expected a whole number in [0, 65535], got nothing");
  EXPECT_EQ(ErrorFor("baseline:\n  holdback_zscore: [1]\n"),
            "cfg.yaml:2: baseline.holdback_zscore: expected a number > 0, got a list");
  EXPECT_EQ(ErrorFor("ingest: {durable: maybe}\n"),
            "cfg.yaml:1: ingest.durable: expected true or false, got 'maybe'");
  EXPECT_EQ(ErrorFor("server: {host: ''}\n"),
            "cfg.yaml:1: server.host: expected a non-empty text, got ''");
  EXPECT_EQ(ErrorFor("server:\n  auth_tokens: secret\n"),
            "cfg.yaml:2: server.auth_tokens: expected a list of tokens, got a single text");
  EXPECT_EQ(ErrorFor("plugins:\n  dirs:\n    - /a\n    - {x: 1}\n"),
            "cfg.yaml:4: plugins.dirs[1]: expected a non-empty text, got a map");
  EXPECT_EQ(ErrorFor("retention: 7\n"), "cfg.yaml:1: retention: expected a map, got '7'");
  EXPECT_EQ(ErrorFor("- a\n- b\n"), "cfg.yaml:1: expected a map of settings, got a list");
}

TEST_F(ConfigTest, OutOfRangeValuesNameKeyAndLine) {
  EXPECT_EQ(ErrorFor("baseline: {min_samples: 1}\n"),
            "cfg.yaml:1: baseline.min_samples: expected a whole number in [2, 1000000], got '1'");
  EXPECT_EQ(ErrorFor("baseline:\n  window_size: 1000001\n"),
            "cfg.yaml:2: baseline.window_size: expected a whole number in [2, 1000000], got "
            "'1000001'");
  EXPECT_EQ(ErrorFor("baseline:\n  window_hours: 0\n"),
            "cfg.yaml:2: baseline.window_hours: expected a number > 0 and <= 1e+06, got '0'");
  EXPECT_EQ(ErrorFor("baseline:\n  refresh_every: 0\n"),
            "cfg.yaml:2: baseline.refresh_every: expected a whole number >= 1, got '0'");
  EXPECT_EQ(ErrorFor("baseline:\n  holdback_zscore: -3\n"),
            "cfg.yaml:2: baseline.holdback_zscore: expected a number > 0, got '-3'");
  EXPECT_EQ(ErrorFor("server:\n  port: 65536\n"),
            "cfg.yaml:2: server.port: expected a whole number in [0, 65535], got '65536'");
  EXPECT_EQ(ErrorFor("server:\n  threads: 65\n"),
            "cfg.yaml:2: server.threads: expected a whole number in [1, 64], got '65'");
  EXPECT_EQ(ErrorFor("retention:\n  events_days: 0\n"),
            "cfg.yaml:2: retention.events_days: expected a number > 0 and <= 36500, got '0'");
  EXPECT_EQ(ErrorFor("ingest:\n  queue_capacity: 0\n"),
            "cfg.yaml:2: ingest.queue_capacity: expected a whole number >= 1, got '0'");
  EXPECT_EQ(ErrorFor("ingest:\n  max_services: 99999999999999999999\n"),
            "cfg.yaml:2: ingest.max_services: expected a whole number >= 1, got "
            "'99999999999999999999'");
  EXPECT_EQ(ErrorFor("storage:\n  commit_interval_ms: 60001\n"),
            "cfg.yaml:2: storage.commit_interval_ms: expected a whole number in [1, 60000], got "
            "'60001'");
  EXPECT_EQ(ErrorFor("storage:\n  snapshot_every: 0\n"),
            "cfg.yaml:2: storage.snapshot_every: expected a whole number >= 1, got '0'");
  EXPECT_EQ(ErrorFor("ingest:\n  max_future_seconds: -1\n"),
            "cfg.yaml:2: ingest.max_future_seconds: expected a whole number in [0, 315360000], "
            "got '-1'");
  EXPECT_EQ(ErrorFor("ingest:\n  max_future_seconds: 315360001\n"),
            "cfg.yaml:2: ingest.max_future_seconds: expected a whole number in [0, 315360000], "
            "got '315360001'");
}

TEST_F(ConfigTest, MinSamplesMustFitTheWindow) {
  EXPECT_EQ(ErrorFor("baseline:\n  window_size: 50\n  min_samples: 60\n"),
            "cfg.yaml:3: baseline.min_samples: must be <= baseline.window_size (50), got 60");
  EXPECT_EQ(ErrorFor("baseline:\n  window_size: 50\n"),
            "cfg.yaml:2: baseline.window_size: must be >= baseline.min_samples (100), got 50");
  Config config;
  ASSERT_TRUE(Load("baseline: {window_size: 50, min_samples: 50}\n", &config).ok());
}

TEST_F(ConfigTest, PipelineMistakesNameKeyAndLine) {
  EXPECT_EQ(ErrorFor("pipeline:\n  triggers: []\n"),
            "cfg.yaml:2: pipeline.triggers: expected at least one trigger detector");
  EXPECT_EQ(ErrorFor("pipeline:\n  triggers:\n    - zscore_severe\n    - moderate_window\n"
                     "    - zscore_severe\n"),
            "cfg.yaml:5: pipeline.triggers[2]: 'zscore_severe' is already listed as "
            "pipeline.triggers[0]");
  EXPECT_EQ(ErrorFor("pipeline:\n  recovery: [a, b]\n"),
            "cfg.yaml:2: pipeline.recovery: expected a non-empty text, got a list");
  EXPECT_EQ(ErrorFor("detectors:\n  zscore_severe: {threshold: 3}\n  ewma:\n    alpha: 0.1\n"),
            "cfg.yaml:3: detectors.ewma: detector 'ewma' is not in pipeline.triggers or "
            "pipeline.recovery");
  // The detector is no longer run once the pipeline drops it, so its parameters are a mistake.
  EXPECT_EQ(ErrorFor("detectors:\n  moderate_window: {count: 3}\npipeline:\n  triggers: "
                     "[zscore_severe]\n"),
            "cfg.yaml:2: detectors.moderate_window: detector 'moderate_window' is not in "
            "pipeline.triggers or pipeline.recovery");
  EXPECT_EQ(ErrorFor("detectors:\n  recovery:\n    threshold: {a: 1}\n"),
            "cfg.yaml:3: detectors.recovery.threshold: expected a single value, got a map");
  EXPECT_EQ(ErrorFor("detectors:\n  recovery: 5\n"),
            "cfg.yaml:2: detectors.recovery: expected a map of parameters, got '5'");
}

TEST_F(ConfigTest, UnreadableAndInvalidFilesSaySoWithTheFile) {
  Config config;
  Status status = LoadConfigFile(path_ + ".missing", &config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(),
            path_ + ".missing: cannot read config file: No such file or directory");

  status = LoadConfigFile(dir_.string(), &config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), dir_.string() + ": cannot read config file: it is a directory");

  EXPECT_THAT(ErrorFor("server:\n  port: 8000\n  host: [unclosed\n"),
              StartsWith("cfg.yaml:4: invalid YAML: "));
  EXPECT_THAT(ErrorFor("baseline:\n  window_size: 10\n bad_indent: 1\n"),
              StartsWith("cfg.yaml:3: invalid YAML: "));
  EXPECT_EQ(ErrorFor("server: {port: 1}\n---\nserver: {port: 2}\n"),
            "cfg.yaml:3: expected one YAML document, found 2");
}

}  // namespace
}  // namespace driftwatch
