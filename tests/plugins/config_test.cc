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
      << c.storage.commit_interval_ms << " " << c.storage.snapshot_every;
  for (const Param& param : c.storage.backend_params) out << " " << param.key << "=" << param.value;
  out << "\ningest " << c.ingest.queue_capacity << " " << c.ingest.max_services << " "
      << c.ingest.durable << " " << c.ingest.max_future_seconds << "\nplugin dirs:";
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

// The PostgreSQL backend's keys go to the backend as text, with their lines, and only when the
// file sets them: the default store is opened with {"path"} alone, as before.
TEST_F(ConfigTest, BackendKeysArePassedOnOnlyWhenSet) {
  EXPECT_TRUE(Config{}.storage.backend_params.empty());
  Config config;
  ASSERT_TRUE(Load("storage:\n  plugin: postgresql\n  url: postgresql://dw@db/dw\n"
                   "  namespace: team_a\n  lease_seconds: 30\n  standby: yes\n",
                   &config)
                  .ok());
  std::string params;
  for (size_t i = 0; i < config.storage.backend_params.size(); ++i) {
    params += config.storage.backend_params[i].key + "=" + config.storage.backend_params[i].value +
              "@" + std::to_string(config.storage.backend_param_lines[i]) + " ";
  }
  EXPECT_EQ(params,
            "url=postgresql://dw@db/dw@3 namespace=team_a@4 lease_seconds=30@5 standby=true@6 ");
  EXPECT_EQ(ErrorFor("storage:\n  lease_seconds: 0\n"),
            "cfg.yaml:2: storage.lease_seconds: expected a whole number in [1, 3600], got '0'");
  EXPECT_EQ(ErrorFor("storage:\n  standby: later\n"),
            "cfg.yaml:2: storage.standby: expected true or false, got 'later'");
  EXPECT_EQ(ErrorFor("storage:\n  url: ''\n"),
            "cfg.yaml:2: storage.url: expected a non-empty text, got ''");
}

TEST_F(ConfigTest, DetectorParamsAttachToTheDefaultPipeline) {
  Config config;
  ASSERT_TRUE(Load("detectors:\n  moderate_window:\n    count: 12\n", &config).ok());
  EXPECT_EQ(Params(config.triggers[1]), "count=12@3 ");
  EXPECT_EQ(config.triggers[1].line, 0);  // named by the built-in default, not the file
}

TEST_F(ConfigTest, SeriesSettings) {
  Config config;
  ASSERT_TRUE(LoadConfigText("series:\n  per_endpoint: true\n  max_endpoints_per_service: 7\n",
                             "cfg.yaml", &config)
                  .ok());
  EXPECT_TRUE(config.series.per_endpoint);
  EXPECT_EQ(config.series.max_endpoints_per_service, 7u);
  EXPECT_FALSE(Config{}.series.per_endpoint);  // off unless asked for
  EXPECT_EQ(Config{}.series.max_endpoints_per_service, 100u);
  EXPECT_EQ(ErrorFor("series:\n  max_endpoints_per_service: 0\n"),
            "cfg.yaml:2: series.max_endpoints_per_service: expected a whole number in [1, 100000], "
            "got '0'");
  EXPECT_EQ(ErrorFor("series:\n  per_endpoint: maybe\n"),
            "cfg.yaml:2: series.per_endpoint: expected true or false, got 'maybe'");
}

TEST_F(ConfigTest, UnknownKeysNameKeyAndLine) {
  EXPECT_EQ(ErrorFor("server:\n  port: 1\nbaselin:\n  min_samples: 5\n"),
            "cfg.yaml:3: baselin: unknown key (expected one of: baseline, detectors, pipeline, "
            "retention, server, storage, ingest, plugins, notify, metrics, series)");
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

TEST_F(ConfigTest, NotifyTargetsAreReadWithSecretsFromTheEnvironment) {
  ::setenv("DW_TEST_SLACK_URL", "https://hooks.slack.example/services/T0/B0/secret-path", 1);
  ::setenv("DW_TEST_PD_KEY", "pd-routing-key", 1);
  Config config;
  const Status status = Load(R"(notify:
  public_url: https://driftwatch.example.com
  on: [drift_detected, recovered, reset]
  resend_interval: 2m
  give_up_after: 1d
  timeout: 5
  targets:
    - {name: am, type: alertmanager, url: "http://127.0.0.1:9093"}
    - name: hook
      type: webhook
      url: https://hooks.example.com/dw
      secret: s3cret
      headers: {X-Team: sre}
    - {name: chat, type: slack, url_env: DW_TEST_SLACK_URL}
    - {name: pager, type: pagerduty, routing_key_env: DW_TEST_PD_KEY}
)",
                             &config);
  ASSERT_TRUE(status.ok()) << status.message();
  const NotifyConfig& n = config.notify;
  EXPECT_EQ(n.public_url, "https://driftwatch.example.com");
  EXPECT_EQ(n.on, (std::vector<std::string>{"drift_detected", "recovered", "reset"}));
  EXPECT_EQ(n.resend_interval_seconds, 120u);
  EXPECT_EQ(n.give_up_after_seconds, 86400u);
  EXPECT_EQ(n.timeout_seconds, 5u);
  ASSERT_EQ(n.targets.size(), 4u);
  EXPECT_EQ(n.targets[0].type, "alertmanager");
  EXPECT_EQ(n.targets[0].url, "http://127.0.0.1:9093");
  EXPECT_EQ(n.targets[1].secret, "s3cret");
  EXPECT_EQ(n.targets[1].headers,
            (std::vector<std::pair<std::string, std::string>>{{"X-Team", "sre"}}));
  EXPECT_EQ(n.targets[1].line, 9);
  EXPECT_EQ(n.targets[2].url, "https://hooks.slack.example/services/T0/B0/secret-path");
  EXPECT_EQ(n.targets[3].routing_key, "pd-routing-key");
  EXPECT_EQ(n.targets[3].url, "https://events.pagerduty.com/v2/enqueue");

  Config defaults;
  EXPECT_TRUE(defaults.notify.targets.empty());  // nothing is sent unless asked
  EXPECT_EQ(defaults.notify.on, (std::vector<std::string>{"drift_detected", "recovered"}));
  EXPECT_EQ(defaults.notify.resend_interval_seconds, 60u);
  EXPECT_EQ(defaults.notify.give_up_after_seconds, 86400u);
  EXPECT_EQ(defaults.notify.timeout_seconds, 10u);
}

TEST_F(ConfigTest, NotifyMistakesNameKeyAndLineAndNeverAValue) {
  ::setenv("DW_TEST_SECRET_URL", "https://secret.example/abc", 1);
  ::unsetenv("DW_TEST_UNSET");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: slack, url_env: DW_TEST_UNSET}\n"),
            "cfg.yaml:3: notify.targets[0].url_env: the environment variable DW_TEST_UNSET is not "
            "set (or is empty)");
  EXPECT_EQ(
      ErrorFor("notify:\n  targets:\n    - {name: a, type: slack, url: 'ftp://x/super-secret'}\n"),
      "cfg.yaml:3: notify.targets[0].url: expected an http:// or https:// URL with a host "
      "(the value is not shown)");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: webhook, url: 'http://h', "
                     "url_env: DW_TEST_SECRET_URL}\n"),
            "cfg.yaml:3: notify.targets[0].url_env: set url or url_env, not both");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: sms, url: 'http://h'}\n"),
            "cfg.yaml:3: notify.targets[0].type: expected alertmanager, webhook, slack or "
            "pagerduty, got 'sms'");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: slack}\n"),
            "cfg.yaml:3: notify.targets[0]: a slack target needs url or url_env");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: p, type: pagerduty}\n"),
            "cfg.yaml:3: notify.targets[0]: a pagerduty target needs routing_key or "
            "routing_key_env");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: slack, url: 'http://h', "
                     "secret: x}\n"),
            "cfg.yaml:3: notify.targets[0].secret: not used by a target of type slack");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: slack, url: 'http://h'}\n"
                     "    - {name: a, type: slack, url: 'http://i'}\n"),
            "cfg.yaml:4: notify.targets[1].name: the name 'a' is already used by another target");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: 'A b', type: slack, url: 'http://h'}\n"),
            "cfg.yaml:3: notify.targets[0].name: expected 1-64 characters of a-z 0-9 _ -, got "
            "'A b'");
  EXPECT_EQ(ErrorFor("notify:\n  on: [drift_detected, paged]\n"),
            "cfg.yaml:2: notify.on[1]: expected one of drift_detected, recovered, "
            "baseline_established, reset; got 'paged'");
  EXPECT_EQ(ErrorFor("notify:\n  resend_interval: 5x\n"),
            "cfg.yaml:2: notify.resend_interval: expected a duration from 1s to 2592000s, like "
            "90, 90s, 5m, 24h or 2d, got '5x'");
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - name: h\n      type: webhook\n      url: "
                     "'http://h'\n      headers: {Idempotency-Key: x}\n"),
            "cfg.yaml:6: notify.targets[0].headers.Idempotency-Key: set by DriftWatch itself, it "
            "cannot be configured");
  // A secret's value never appears in a message, even when the mistake is next to it.
  EXPECT_EQ(ErrorFor("notify:\n  targets:\n    - {name: a, type: alertmanager, url_env: "
                     "DW_TEST_SECRET_URL, secret: x}\n"),
            "cfg.yaml:3: notify.targets[0].secret: not used by a target of type alertmanager");
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
