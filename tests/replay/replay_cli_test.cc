// The real `driftwatch replay`: its command line, its errors, NAB scoring on a small synthetic
// corpus in NAB's format, and the proof of its one promise: for the same samples in the same
// order, the transitions it prints are exactly the events the real server records (same order,
// timestamps, metadata, sample numbers), with the default pipeline and with an opt-in one.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/timestamp.h"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::replay {
namespace {

using driftwatch::testing::DriftwatchBinary;
using driftwatch::testing::Fetch;
using driftwatch::testing::RunResult;

std::string Json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

// An event's fields in one order, as text: what /v1/events holds for it.
std::string Canonical(const rapidjson::Value& event) {
  std::string text;
  for (const char* key :
       {"from_state", "to_state", "reason", "metadata", "timestamp", "sample_seq"}) {
    text += std::string(key) + "=" + (event.HasMember(key) ? Json(event[key]) : "(none)") + " ";
  }
  return text;
}

// One sample as both sides get it: the value's text is the same in the file and in the request.
struct Recorded {
  std::string service_id;
  int64_t timestamp_ms;
  std::string latency;
  std::string payload;   // "" for none
  std::string endpoint;  // "" for none
};

std::string Format(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", value);
  return text;
}

// A service's traffic: normal noise, a spike, a slow creep and a return, so that every kind of
// transition happens (baseline, drift by either rule, recovery).
std::vector<Recorded> Traffic(const std::string& service, uint64_t seed, int64_t start_ms,
                              int64_t step_ms, int count, bool payload) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> noise(150.0, 25.0);
  std::normal_distribution<double> payload_noise(2.45, 0.76);
  std::vector<Recorded> samples;
  for (int i = 0; i < count; ++i) {
    double factor = 1.0;
    const int phase = i * 10 / count;  // tenths of the run
    if (phase == 3) factor = 3.0;      // a spike
    const int creep_start = 6 * count / 10;
    if (phase == 6) factor = 1.0 + 0.6 * (i - creep_start) / (count / 10.0);  // a creep
    if (phase == 7) factor = 1.6;
    const double latency = std::max(1.0, noise(random) * factor);
    const double size = std::max(0.0, payload_noise(random));
    samples.push_back({service, start_ms + i * step_ms, Format(latency),
                       payload && i % 3 != 0 ? Format(size) : "", ""});
  }
  return samples;
}

class ReplayCliTest : public ::testing::Test {
 protected:
  RunResult Replay(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {DriftwatchBinary(), "replay"});
    return driftwatch::testing::RunToExit(arguments, dir_.File("replay"),
                                          std::chrono::seconds(120));
  }
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_.File(name);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << content;
    return path;
  }
  testing::TestDir dir_;
};

TEST_F(ReplayCliTest, HelpAndUsageErrors) {
  const RunResult help = Replay({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out.rfind("Usage: driftwatch replay [--config FILE]", 0), 0u) << help.out;
  const RunResult none = Replay({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err,
            "driftwatch replay: no INPUT: name at least one file or directory\n"
            "Try 'driftwatch replay --help'.\n");
  const RunResult unknown = Replay({"--fast", "x.csv"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err.rfind("driftwatch replay: unknown option '--fast'\n", 0), 0u);
  const RunResult missing = Replay({dir_.File("nowhere.csv")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err,
            "driftwatch replay: " + dir_.File("nowhere.csv") + ": no such file or directory\n");
}

TEST_F(ReplayCliTest, ABadRowIsSkippedAndCountedOrStopsAStrictRun) {
  std::string csv = "timestamp,value\n";
  for (int i = 0; i < 150; ++i) {
    csv += FormatTimestamp(1404172800000 + i * 60000) + "," + (i == 120 ? "-1" : "100") + "\n";
  }
  const std::string path = Write("series.csv", csv);
  const RunResult strict = Replay({"--strict", path});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_EQ(strict.out, "");
  EXPECT_NE(strict.err.find(path + ":122: value: must be a finite number >= 0"), std::string::npos)
      << strict.err;
  const RunResult lenient = Replay({"--json", path});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.err;
  rapidjson::Document summary;
  summary.Parse(lenient.out.substr(lenient.out.rfind("{\"summary\"")).c_str());
  ASSERT_FALSE(summary.HasParseError()) << lenient.out;
  EXPECT_EQ(summary["summary"]["skipped_rows"].GetInt(), 1);
  EXPECT_EQ(summary["summary"]["samples"].GetInt(), 149);
  EXPECT_NE(lenient.err.find("skipped 1 bad rows"), std::string::npos);
}

TEST_F(ReplayCliTest, ABadConfigIsRefusedAsTheServerRefusesIt) {
  const std::string config = Write("bad.yaml", "pipeline:\n  triggers: [zscore_severe, nope]\n");
  const std::string data = Write("s.csv", "timestamp,value\n");
  const RunResult run = Replay({"--config", config, data});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find(config + ":2: pipeline.triggers[1]: no loaded plugin provides detector "
                                  "'nope'"),
            std::string::npos)
      << run.err;
}

// A small corpus in NAB's layout: data/<group>/<file>.csv and a combined_windows.json.
TEST_F(ReplayCliTest, ScoresDetectionsWithNabsMethod) {
  std::mt19937_64 random(7);
  std::normal_distribution<double> noise(100.0, 5.0);
  const int64_t start = 1396310400000;  // 2014-04-01 00:00:00
  auto nab_time = [&](int row) {
    std::string text = FormatTimestamp(start + int64_t{row} * 300000);  // 5-minute rows
    text[10] = ' ';
    return text.substr(0, 19);
  };
  std::string spiky = "timestamp,value\n";
  std::string quiet = "timestamp,value\n";
  for (int row = 0; row < 2000; ++row) {
    const double level = row >= 1500 && row < 1530 ? 300.0 : 0.0;
    spiky += nab_time(row) + "," + Format(noise(random) + level) + "\n";
    quiet += nab_time(row) + "," + Format(noise(random)) + "\n";
  }
  Write("corpus/data/synthetic/spiky.csv", spiky);
  Write("corpus/data/synthetic/quiet.csv", quiet);
  const std::string labels = Write(
      "corpus/labels.json", "{\"synthetic/spiky.csv\": [[\"" + nab_time(1490) + ".000000\", \"" +
                                nab_time(1590) + ".000000\"]], \"synthetic/quiet.csv\": []}");
  const RunResult text = Replay({"--labels", labels, dir_.File("corpus/data")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("NAB score (0 = no detection, 100 = perfect): standard "),
            std::string::npos)
      << text.out;

  const RunResult json = Replay({"--json", "--labels", labels, dir_.File("corpus/data")});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  rapidjson::Document summary;
  summary.Parse(json.out.substr(json.out.rfind("{\"summary\"")).c_str());
  ASSERT_FALSE(summary.HasParseError()) << json.out;
  const rapidjson::Value& nab = summary["summary"]["nab"];
  EXPECT_EQ(nab["files_scored"].GetInt(), 2);
  EXPECT_EQ(nab["windows"].GetInt(), 1);
  EXPECT_EQ(nab["detected_windows"].GetInt(), 1) << json.out;
  // Rule 1 needs 5 samples in a row: the spike starts 10 rows into the window.
  EXPECT_EQ(nab["median_delay_rows"].GetDouble(), 14.0) << json.out;
  const double standard = nab["scores"]["standard"].GetDouble();
  EXPECT_GT(standard, 50.0) << json.out;
  EXPECT_LE(standard, 100.0) << json.out;
  // One detection in the window, the only one in the file: the raw score is the sigmoid's.
  const rapidjson::Value& files = nab["files"];
  ASSERT_EQ(files.Size(), 2u);
  EXPECT_STREQ(files[1]["file"].GetString(), "synthetic/spiky.csv");
  EXPECT_EQ(files[1]["detections_in_windows"].GetInt(), 1);
  EXPECT_EQ(files[1]["detections_outside_windows"].GetInt(), 0);
  const double position = -(1590.0 - 1504.0 + 1.0) / 101.0;
  const double expected =
      (2.0 / (1.0 + std::exp(5.0 * position)) - 1.0) / (2.0 / (1.0 + std::exp(-5.0)) - 1.0);
  EXPECT_NEAR(files[1]["raw_scores"]["standard"].GetDouble(), expected, 1e-9) << json.out;
}

// Sends `samples` to the server in batches, in order, and waits until it has processed them.
void Send(uint16_t port, const std::vector<Recorded>& samples) {
  constexpr size_t kBatch = 400;
  for (size_t begin = 0; begin < samples.size(); begin += kBatch) {
    std::string body = "[";
    for (size_t i = begin; i < std::min(samples.size(), begin + kBatch); ++i) {
      const Recorded& s = samples[i];
      if (i > begin) body += ",";
      body += "{\"service_id\":\"" + s.service_id + "\",\"latency_ms\":" + s.latency +
              (s.payload.empty() ? "" : ",\"payload_kb\":" + s.payload) +
              (s.endpoint.empty() ? "" : ",\"endpoint\":\"" + s.endpoint + "\"") +
              ",\"timestamp\":\"" + FormatTimestamp(s.timestamp_ms) + "\"}";
    }
    body += "]";
    const auto answer = Fetch(port, "POST", "/v1/telemetry/batch", body);
    ASSERT_EQ(answer.status, 202) << answer.body;
  }
}

// A series' path: "/v1/<what>/<service>", with ?endpoint=<percent-encoded> for an endpoint series.
std::string SeriesPath(const std::string& what, const std::string& service,
                       const std::string& endpoint) {
  std::string path = "/v1/" + what + "/" + service;
  if (endpoint.empty()) return path;
  path += "?endpoint=";
  for (const char c : endpoint) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.') {
      path += c;
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof(escaped), "%%%02X", static_cast<unsigned char>(c));
      path += escaped;
    }
  }
  return path;
}

// The samples a series has processed; -1 when the server knows no such series.
int64_t SeriesCount(uint16_t port, const std::string& service, const std::string& endpoint) {
  const auto answer = Fetch(port, "GET", SeriesPath("health", service, endpoint));
  rapidjson::Document health;
  health.Parse(answer.body.c_str());
  if (answer.status != 200 || health.HasParseError()) return -1;
  return health["sample_count"].GetInt64();
}

void ExpectReplayMatchesServer(const std::string& config, const std::string& dir,
                               const std::string& out_dir) {
  // Three files, three formats, four services; timestamps in the last hours (the server refuses
  // samples far ahead of its clock).
  const int64_t start = (NowMs() / 1000 - 4 * 3600) * 1000;
  const std::vector<Recorded> nab_form = Traffic("nab-series", 1, start, 1000, 2500, false);
  std::vector<Recorded> named;
  {
    const std::vector<Recorded> a = Traffic("checkout", 2, start, 1500, 1800, true);
    const std::vector<Recorded> b = Traffic("search", 3, start + 700, 1500, 1800, false);
    for (size_t i = 0; i < a.size(); ++i) {  // interleaved, as a recording of two services is
      named.push_back(a[i]);
      named.push_back(b[i]);
    }
  }
  const std::vector<Recorded> json_lines = Traffic("payments", 4, start, 2000, 2000, true);

  std::ofstream nab_file(dir + "/nab-series.csv");
  nab_file << "timestamp,value\n";
  for (const Recorded& s : nab_form) {
    std::string stamp = FormatTimestamp(s.timestamp_ms);
    stamp[10] = ' ';
    nab_file << stamp.substr(0, 19) << "," << s.latency << "\n";
  }
  nab_file.close();
  std::ofstream named_file(dir + "/recorded.csv");
  named_file << "timestamp,service_id,endpoint,latency_ms,payload_kb\n";
  for (const Recorded& s : named) {
    named_file << FormatTimestamp(s.timestamp_ms) << "," << s.service_id << ",/v1/x," << s.latency
               << "," << s.payload << "\n";
  }
  named_file.close();
  std::ofstream json_file(dir + "/samples.jsonl");
  for (const Recorded& s : json_lines) {
    json_file << "{\"service_id\": \"" << s.service_id << "\", \"latency_ms\": " << s.latency
              << (s.payload.empty() ? "" : ", \"payload_kb\": " + s.payload)
              << ", \"timestamp\": \"" << FormatTimestamp(s.timestamp_ms) << "\"}\n";
  }
  json_file.close();

  std::vector<std::string> config_args;
  if (!config.empty()) config_args = {"--config", config};
  std::vector<std::string> replay_args = {DriftwatchBinary(), "replay", "--json"};
  replay_args.insert(replay_args.end(), config_args.begin(), config_args.end());
  replay_args.push_back(dir);
  const RunResult replay =
      driftwatch::testing::RunToExit(replay_args, out_dir + "/replay", std::chrono::seconds(120));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  std::map<std::string, std::vector<std::string>> replayed;  // service -> events, oldest first
  std::istringstream lines(replay.out);
  std::string line;
  while (std::getline(lines, line)) {
    rapidjson::Document event;
    event.Parse(line.c_str());
    ASSERT_FALSE(event.HasParseError()) << line;
    if (event.HasMember("summary")) continue;
    replayed[event["service_id"].GetString()].push_back(Canonical(event));
  }

  driftwatch::testing::ServerProcess server(out_dir + "/server");
  std::vector<std::string> server_args = {"--host", "127.0.0.1", "--port",
                                          "0",      "--db",      out_dir + "/driftwatch.db"};
  server_args.insert(server_args.end(), config_args.begin(), config_args.end());
  std::string error;
  ASSERT_TRUE(server.Start(server_args, &error)) << error;
  // The order replay reads them: the directory's files in path order.
  Send(server.port(), nab_form);
  Send(server.port(), named);
  Send(server.port(), json_lines);
  const std::map<std::string, int64_t> counts = {
      {"nab-series", 2500}, {"checkout", 1800}, {"search", 1800}, {"payments", 2000}};
  for (const auto& [service, count] : counts) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (SeriesCount(server.port(), service, "") < count &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(SeriesCount(server.port(), service, ""), count) << service;

    const auto answer = Fetch(server.port(), "GET", "/v1/events/" + service + "?limit=1000");
    ASSERT_EQ(answer.status, 200) << answer.body;
    rapidjson::Document events;
    events.Parse(answer.body.c_str());
    ASSERT_FALSE(events.HasParseError()) << answer.body;
    std::vector<std::string> recorded;
    for (const rapidjson::Value& event : events["events"].GetArray())
      recorded.push_back(Canonical(event));
    std::reverse(recorded.begin(), recorded.end());  // the API lists newest first
    // Every kind of transition happened, so the comparison is not of two empty lists.
    EXPECT_GE(recorded.size(), 3u) << service;
    EXPECT_EQ(replayed[service], recorded) << service;
  }
  EXPECT_EQ(replayed.size(), counts.size());
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ReplayCliTest, TransitionsAreExactlyTheServersEventsWithTheDefaultPipeline) {
  std::filesystem::create_directories(dir_.File("inputs"));
  ExpectReplayMatchesServer("", dir_.File("inputs"), dir_.path().string());
}

TEST_F(ReplayCliTest, TransitionsAreExactlyTheServersEventsWithAnOptInPipeline) {
  const std::string config = Write("opt-in.yaml",
                                   "baseline:\n"
                                   "  freeze_in_drift: false\n"
                                   "  window_hours: 1000000\n"
                                   "pipeline:\n"
                                   "  triggers: [zscore_severe, moderate_window, cusum, ewma]\n"
                                   "detectors:\n"
                                   "  cusum:\n"
                                   "    k: 0.5\n"
                                   "    h: 8\n");
  std::filesystem::create_directories(dir_.File("inputs"));
  ExpectReplayMatchesServer(config, dir_.File("inputs"), dir_.path().string());
}

// The configuration docs/detectors.md recommends, read from the document itself (its first YAML
// block after the heading): it loads, runs both of its opt-in triggers, and replays exactly as
// the server records.
TEST_F(ReplayCliTest, TheRecommendedConfigurationOfDetectorsMdIsExactlyTheServers) {
  std::ifstream doc(std::string(DRIFTWATCH_DOCS_DIR) + "/detectors.md");
  ASSERT_TRUE(doc.good());
  std::stringstream text;
  text << doc.rdbuf();
  const std::string markdown = text.str();
  const size_t section = markdown.find("## Recommended opt-in configuration");
  ASSERT_NE(section, std::string::npos);
  const size_t begin = markdown.find("```yaml\n", section);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = markdown.find("```", begin + 8);
  ASSERT_NE(end, std::string::npos);
  const std::string yaml = markdown.substr(begin + 8, end - begin - 8);
  EXPECT_NE(yaml.find("cusum"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("ewma"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("freeze_in_drift: false"), std::string::npos) << yaml;
  const std::string config = Write("recommended.yaml", yaml);
  std::filesystem::create_directories(dir_.File("inputs"));
  ExpectReplayMatchesServer(config, dir_.File("inputs"), dir_.path().string());
}

// A service whose slow endpoint drifts while the service's own mix stays STABLE: eight samples
// in ten are the fast endpoint's (about 100 ms), one the slow endpoint's (about 150 ms, three
// times that for a while) and one names no endpoint. The slow endpoint's drifting samples are
// one in ten of the service's, never 5 in a row nor 10 in 20: only its own series sees them.
std::vector<Recorded> EndpointMix(const std::string& service, const std::string& fast,
                                  const std::string& slow, int64_t start_ms, int64_t step_ms,
                                  int count) {
  std::mt19937_64 random(5);
  std::normal_distribution<double> fast_noise(100.0, 8.0);
  std::normal_distribution<double> slow_noise(150.0, 10.0);
  std::vector<Recorded> samples;
  for (int i = 0; i < count; ++i) {
    Recorded sample{service, start_ms + i * step_ms, "", "", fast};
    if (i % 10 == 9) {
      const int slow_index = i / 10;
      const double factor = slow_index >= 150 && slow_index < 180 ? 3.0 : 1.0;
      sample.endpoint = slow;
      sample.latency = Format(slow_noise(random) * factor);
    } else {
      if (i % 10 == 4) sample.endpoint.clear();
      sample.latency = Format(fast_noise(random));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// With series.per_endpoint: true, replay's transitions of every series, endpoint series
// included, are exactly the server's events for them: a drifting endpoint inside a STABLE
// service, and a service with more endpoints than series.max_endpoints_per_service, whose extra
// endpoint's samples feed the service alone and are counted as overflow on both sides.
TEST_F(ReplayCliTest, EndpointSeriesTransitionsAreExactlyTheServersEvents) {
  const std::string config = Write("endpoints.yaml",
                                   "series:\n"
                                   "  per_endpoint: true\n"
                                   "  max_endpoints_per_service: 2\n");
  const std::string dir = dir_.File("inputs");
  std::filesystem::create_directories(dir);
  const int64_t start = (NowMs() / 1000 - 4 * 3600) * 1000;
  const std::string fast = "GET /api/orders/{id}";
  const std::string slow = "POST /api/search";
  const std::vector<Recorded> orders = EndpointMix("orders", fast, slow, start, 1000, 3000);
  std::vector<Recorded> catalog = Traffic("catalog", 6, start + 300, 2000, 1800, true);
  for (size_t i = 0; i < catalog.size(); ++i)
    catalog[i].endpoint = "/" + std::string(1, "abc"[i % 3]);
  std::vector<Recorded> payments = Traffic("payments", 7, start, 2000, 2000, false);
  for (size_t i = 0; i < payments.size(); ++i) {
    if (i % 2 == 0) payments[i].endpoint = "/charge";
  }
  std::vector<Recorded> named;  // orders and catalog interleaved, as one recording
  for (size_t i = 0; i < orders.size(); ++i) {
    named.push_back(orders[i]);
    if (i < catalog.size()) named.push_back(catalog[i]);
  }
  {
    std::ofstream csv(dir + "/recorded.csv");
    csv << "timestamp,service_id,endpoint,latency_ms,payload_kb\n";
    for (const Recorded& s : named) {
      csv << FormatTimestamp(s.timestamp_ms) << "," << s.service_id << "," << s.endpoint << ","
          << s.latency << "," << s.payload << "\n";
    }
    std::ofstream json_lines(dir + "/samples.jsonl");
    for (size_t i = 0; i < payments.size(); ++i) {
      const Recorded& s = payments[i];
      // No endpoint: a null one, or none at all.
      const std::string endpoint = !s.endpoint.empty() ? ", \"endpoint\": \"" + s.endpoint + "\""
                                   : i % 4 == 1        ? ", \"endpoint\": null"
                                                       : "";
      json_lines << "{\"service_id\": \"" << s.service_id << "\", \"latency_ms\": " << s.latency
                 << endpoint << ", \"timestamp\": \"" << FormatTimestamp(s.timestamp_ms) << "\"}\n";
    }
  }

  const RunResult replay = driftwatch::testing::RunToExit(
      {DriftwatchBinary(), "replay", "--json", "--config", config, dir}, dir_.File("replay"),
      std::chrono::seconds(120));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  // "service endpoint" ("service" alone for its own series) -> events, oldest first.
  std::map<std::string, std::vector<std::string>> replayed;
  rapidjson::Document summary;
  std::istringstream lines(replay.out);
  std::string line;
  while (std::getline(lines, line)) {
    rapidjson::Document event;
    event.Parse(line.c_str());
    ASSERT_FALSE(event.HasParseError()) << line;
    if (event.HasMember("summary")) {
      summary.CopyFrom(event["summary"], summary.GetAllocator());
      continue;
    }
    std::string series = event["service_id"].GetString();
    if (event.HasMember("endpoint")) series += std::string(" ") + event["endpoint"].GetString();
    replayed[series].push_back(Canonical(event));
  }
  ASSERT_TRUE(summary.IsObject()) << replay.out;
  EXPECT_EQ(summary["services"].GetInt(), 3);
  EXPECT_EQ(summary["endpoint_series"].GetInt(), 5);
  EXPECT_EQ(summary["endpoint_overflow"].GetInt(), 600);  // catalog's /c
  EXPECT_EQ(summary["samples"].GetInt(), 3000 + 1800 + 2000);

  driftwatch::testing::ServerProcess server(dir_.File("server"));
  std::string error;
  ASSERT_TRUE(server.Start({"--host", "127.0.0.1", "--port", "0", "--db",
                            dir_.File("driftwatch.db"), "--config", config},
                           &error))
      << error;
  Send(server.port(), named);
  Send(server.port(), payments);
  struct Series {
    std::string service;
    std::string endpoint;
    int64_t count;
  };
  const std::vector<Series> expected = {{"orders", "", 3000},   {"orders", fast, 2400},
                                        {"orders", slow, 300},  {"catalog", "", 1800},
                                        {"catalog", "/a", 600}, {"catalog", "/b", 600},
                                        {"payments", "", 2000}, {"payments", "/charge", 1000}};
  for (const Series& series : expected) {
    const std::string name =
        series.endpoint.empty() ? series.service : series.service + " " + series.endpoint;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (SeriesCount(server.port(), series.service, series.endpoint) < series.count &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(SeriesCount(server.port(), series.service, series.endpoint), series.count) << name;
    const std::string path = SeriesPath("events", series.service, series.endpoint);
    const auto answer =
        Fetch(server.port(), "GET", path + (series.endpoint.empty() ? "?" : "&") + "limit=1000");
    ASSERT_EQ(answer.status, 200) << answer.body;
    rapidjson::Document events;
    events.Parse(answer.body.c_str());
    ASSERT_FALSE(events.HasParseError()) << answer.body;
    EXPECT_EQ(events.HasMember("endpoint"), !series.endpoint.empty()) << answer.body;
    std::vector<std::string> recorded;
    for (const rapidjson::Value& event : events["events"].GetArray()) {
      recorded.push_back(Canonical(event));
    }
    std::reverse(recorded.begin(), recorded.end());  // the API lists newest first
    EXPECT_GE(recorded.size(), 1u) << name;          // at least the baseline
    EXPECT_EQ(replayed[name], recorded) << name;
  }
  // Beyond the cap: no series on either side, and the same overflow.
  EXPECT_EQ(Fetch(server.port(), "GET", SeriesPath("health", "catalog", "/c")).status, 404);
  EXPECT_EQ(replayed.count("catalog /c"), 0u);
  EXPECT_EQ(replayed.size(), expected.size());
  const auto status = Fetch(server.port(), "GET", "/v1/system/status");
  rapidjson::Document system;
  system.Parse(status.body.c_str());
  ASSERT_FALSE(system.HasParseError()) << status.body;
  EXPECT_EQ(system["limits"]["max_endpoints_per_service"]["rejected"].GetUint64(), 600u);

  // The case the feature is for: the slow endpoint drifted and recovered; the service did not.
  const auto drifted = [&](const std::string& series) {
    return std::any_of(replayed[series].begin(), replayed[series].end(), [](const std::string& e) {
      return e.find("to_state=\"DRIFT_DETECTED\"") != std::string::npos;
    });
  };
  EXPECT_TRUE(drifted("orders " + slow));
  EXPECT_FALSE(drifted("orders"));
  EXPECT_FALSE(drifted("orders " + fast));
  EXPECT_EQ(replayed["orders"].size(), 1u);  // its baseline only: STABLE throughout
  EXPECT_EQ(server.Stop(), 0);
}

// The whole NAB corpus, when this build was configured with one (DRIFTWATCH_NAB_DIR; the data is
// not in the repository): the default pipeline's scores are printed, whatever they are.
TEST_F(ReplayCliTest, ScoresTheNabCorpusWhenItIsPresent) {
  const std::string nab = DRIFTWATCH_NAB_DIR;
  if (!std::filesystem::exists(nab + "/labels/combined_windows.json")) {
    GTEST_SKIP() << "no NAB corpus at " << nab << " (cmake -DDRIFTWATCH_NAB_DIR=...)";
  }
  const RunResult run = Replay({"--labels", nab + "/labels/combined_windows.json", nab + "/data"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const size_t scores = run.out.find("NAB score (0 = no detection, 100 = perfect): standard ");
  ASSERT_NE(scores, std::string::npos) << run.out;
  EXPECT_NE(run.out.find("reward_low_FP_rate", scores), std::string::npos);
  EXPECT_NE(run.out.find("reward_low_FN_rate", scores), std::string::npos);
  EXPECT_NE(run.out.find("replay: 58 files, 58 services"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("58 files scored, 0 not in the labels"), std::string::npos);
  std::printf("%s", run.out.substr(run.out.rfind('\n', scores - 1) + 1).c_str());
}

}  // namespace
}  // namespace driftwatch::replay
