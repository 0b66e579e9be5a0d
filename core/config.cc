#include "core/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch {
namespace {

// Limits that are not in the config.h defaults: ranges a setting must fall in.
constexpr uint32_t kMinWindowSize = 2;  // a standard deviation needs two samples
constexpr uint32_t kMaxWindowSize = 1000000;
constexpr double kMaxWindowHours = 1e6;      // keeps hours -> milliseconds far from overflow
constexpr double kMaxRetentionDays = 36500;  // a hundred years, for the same reason
constexpr uint32_t kMaxServerThreads = 64;
constexpr uint32_t kMaxConnections = 1000000;
constexpr uint32_t kMaxRequestBytes = 1u << 30;       // 1 GiB
constexpr uint32_t kMaxTimeoutMs = 24 * 3600 * 1000;  // a day
constexpr uint32_t kMaxCommitIntervalMs = 60 * 1000;  // a minute
constexpr uint32_t kMaxLeaseSeconds = 60 * 60;        // an hour
// Ten years: the limit in milliseconds stays far from overflow when added to the clock.
constexpr uint32_t kMaxFutureSeconds = 10 * 365 * 24 * 3600;
// A service's endpoint series are bounded by ingest.max_services as well; this only keeps the
// number sane.
constexpr uint32_t kMaxEndpointsPerService = 100000;
constexpr uint32_t kMaxNotifySeconds = 30 * 24 * 3600;  // a month
constexpr const char* kPagerDutyEventsUrl = "https://events.pagerduty.com/v2/enqueue";
// The transitions a notification may be sent for: the state or reason they lead to.
constexpr const char* kNotifyOn[] = {"drift_detected", "recovered", "baseline_established",
                                     "reset"};
// Headers DriftWatch sets itself on a webhook request.
constexpr const char* kReservedHeaders[] = {"content-type", "content-length", "host",
                                            "idempotency-key", "x-driftwatch-signature"};
constexpr uint32_t kUInt32Max = std::numeric_limits<uint32_t>::max();
constexpr double kNoMax = std::numeric_limits<double>::infinity();

// One "key: value" of the file, with its full dotted name and the 1-based line of its key.
struct Entry {
  YAML::Node value;
  std::string key;  // e.g. "baseline.window_size"
  int line = 0;
};

using FieldReader = std::function<Status(const Entry&)>;
using Fields = std::vector<std::pair<const char*, FieldReader>>;

int LineOf(const YAML::Node& node) { return node.Mark().is_null() ? 0 : node.Mark().line + 1; }

// Where the root node of each document of a YAML stream starts (a null mark for a document that
// has none). YAML::LoadAll in yaml-cpp 0.7 loops forever on some malformed streams, such as a lone
// ",", adding an empty document each time without reading on (jbeder/yaml-cpp#1040) until memory
// runs out; walking the documents ourselves lets us stop where the parser stops moving.
class DocumentRoots : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {
    roots.push_back(YAML::Mark::null_mark());
    awaiting_root_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

  // False when the last document started where the one before it did, or has no root.
  bool Progressed() const {
    const size_t n = roots.size();
    if (n == 0) return true;
    if (roots[n - 1].is_null()) return false;
    return n == 1 || roots[n - 2].is_null() || roots[n - 1].pos > roots[n - 2].pos;
  }

  std::vector<YAML::Mark> roots;

 private:
  void Node(const YAML::Mark& mark) {
    if (awaiting_root_) roots.back() = mark;
    awaiting_root_ = false;
  }
  bool awaiting_root_ = false;
};

// What a node is, for messages: "'abc'", "a map", "a list", "nothing".
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    default:
      return "nothing";
  }
}

// Reads one file's settings over a Config. Every failure names the file, line and dotted key.
class ConfigParser {
 public:
  ConfigParser(std::string file, Config* config) : file_(std::move(file)), config_(config) {}

  Status Parse(const YAML::Node& root) {
    if (root.IsNull()) return Status::Ok();  // an empty file: every default
    if (!root.IsMap()) {
      return Status::Error(file_ + ":" + std::to_string(LineOf(root)) +
                           ": expected a map of settings, got " + Describe(root));
    }
    const Fields sections = {
        {"baseline", [this](const Entry& e) { return ReadBaseline(e); }},
        {"detectors", [this](const Entry& e) { return ReadDetectors(e); }},
        {"pipeline", [this](const Entry& e) { return ReadPipeline(e); }},
        {"retention", [this](const Entry& e) { return ReadRetention(e); }},
        {"server", [this](const Entry& e) { return ReadServer(e); }},
        {"storage", [this](const Entry& e) { return ReadStorage(e); }},
        {"ingest", [this](const Entry& e) { return ReadIngest(e); }},
        {"plugins", [this](const Entry& e) { return ReadPlugins(e); }},
        {"notify", [this](const Entry& e) { return ReadNotify(e); }},
        {"metrics", [this](const Entry& e) { return ReadMetrics(e); }},
        {"series", [this](const Entry& e) { return ReadSeries(e); }},
    };
    Status status = ReadMap(Entry{root, "", 1}, sections);
    if (!status.ok()) return status;
    status = CheckBaseline();
    if (!status.ok()) return status;
    return AttachDetectorParams();
  }

 private:
  Status Fail(const Entry& entry, const std::string& why) const {
    return Status::Error(file_ + ":" + std::to_string(entry.line) + ": " + entry.key + ": " + why);
  }

  // Calls the reader of each key in `map`; an unknown or repeated key is an error. A section left
  // empty ("server:") changes nothing.
  Status ReadMap(const Entry& map, const Fields& fields) {
    if (map.value.IsNull()) return Status::Ok();
    if (!map.value.IsMap()) return Fail(map, "expected a map, got " + Describe(map.value));
    std::vector<std::string> seen;
    for (const auto& item : map.value) {
      const std::string name = item.first.Scalar();
      Entry entry{item.second, map.key.empty() ? name : map.key + "." + name, LineOf(item.first)};
      if (!item.first.IsScalar())
        return Fail(map, "expected a key name, got " + Describe(item.first));
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        return Fail(entry, "appears twice");
      }
      seen.push_back(name);
      lines_[entry.key] = entry.line;
      const FieldReader* reader = nullptr;
      std::string known;
      for (const auto& [field_name, field_reader] : fields) {
        if (name == field_name) reader = &field_reader;
        known += (known.empty() ? "" : ", ") + std::string(field_name);
      }
      if (reader == nullptr) return Fail(entry, "unknown key (expected one of: " + known + ")");
      Status status = (*reader)(entry);
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }

  template <typename T>
  Status ReadInteger(const Entry& e, T min, T max, T* out) const {
    // kUInt32Max as the upper limit means none but the type's own.
    const std::string range = static_cast<uint64_t>(max) == kUInt32Max
                                  ? ">= " + std::to_string(min)
                                  : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    const std::string expected = "expected a whole number " + range;
    if (!e.value.IsScalar()) return Fail(e, expected + ", got " + Describe(e.value));
    const std::string& text = e.value.Scalar();
    long long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty() ||
        value < static_cast<long long>(min) || value > static_cast<long long>(max)) {
      return Fail(e, expected + ", got " + Describe(e.value));
    }
    *out = static_cast<T>(value);
    return Status::Ok();
  }

  // A number > 0 (and <= max when max is finite).
  Status ReadPositive(const Entry& e, double max, double* out) const {
    std::ostringstream expected;
    expected << "expected a number > 0";
    if (max != kNoMax) expected << " and <= " << max;
    if (!e.value.IsScalar()) return Fail(e, expected.str() + ", got " + Describe(e.value));
    const std::string& text = e.value.Scalar();
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) ||
        !(value > 0) || value > max) {
      return Fail(e, expected.str() + ", got " + Describe(e.value));
    }
    *out = value;
    return Status::Ok();
  }

  Status ReadBool(const Entry& e, bool* out) const {
    if (e.value.IsScalar()) {
      try {
        *out = e.value.as<bool>();
        return Status::Ok();
      } catch (const YAML::Exception&) {
      }
    }
    return Fail(e, "expected true or false, got " + Describe(e.value));
  }

  Status ReadText(const Entry& e, std::string* out) const {
    if (!e.value.IsScalar() || e.value.Scalar().empty()) {
      return Fail(e, "expected a non-empty text, got " + Describe(e.value));
    }
    *out = e.value.Scalar();
    return Status::Ok();
  }

  // A list of non-empty texts ("key: []" or nothing for none); lines gets each item's line.
  Status ReadTextList(const Entry& e, std::vector<std::string>* out,
                      std::vector<int>* lines = nullptr) const {
    std::vector<std::string> items;
    std::vector<int> item_lines;
    if (!e.value.IsNull()) {
      if (!e.value.IsSequence()) return Fail(e, "expected a list, got " + Describe(e.value));
      for (size_t i = 0; i < e.value.size(); ++i) {
        const Entry item{e.value[i], e.key + "[" + std::to_string(i) + "]", LineOf(e.value[i])};
        std::string text;
        Status status = ReadText(item, &text);
        if (!status.ok()) return status;
        items.push_back(std::move(text));
        item_lines.push_back(item.line);
      }
    }
    *out = std::move(items);
    if (lines != nullptr) *lines = std::move(item_lines);
    return Status::Ok();
  }

  Status ReadBaseline(const Entry& section) {
    BaselineParams& b = config_->baseline;
    return ReadMap(
        section,
        {{"min_samples",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, kMinWindowSize, kMaxWindowSize, &b.min_samples);
          }},
         {"window_size",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, kMinWindowSize, kMaxWindowSize, &b.window_size);
          }},
         {"window_hours",
          [&](const Entry& e) { return ReadPositive(e, kMaxWindowHours, &b.window_hours); }},
         {"refresh_every",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, 1, kUInt32Max, &b.refresh_every);
          }},
         {"holdback_zscore",
          [&](const Entry& e) { return ReadPositive(e, kNoMax, &b.holdback_zscore); }},
         {"freeze_in_drift", [&](const Entry& e) { return ReadBool(e, &b.freeze_in_drift); }}});
  }

  // Parameters are kept as text for the plugin to validate (BuildDetectorSet); here they only
  // have to be scalars under a detector that the pipeline runs (checked once all is read).
  Status ReadDetectors(const Entry& section) {
    if (section.value.IsNull()) return Status::Ok();
    if (!section.value.IsMap())
      return Fail(section, "expected a map, got " + Describe(section.value));
    for (const auto& item : section.value) {
      const std::string name = item.first.Scalar();
      const Entry detector{item.second, section.key + "." + name, LineOf(item.first)};
      if (detector_params_.count(name) != 0) return Fail(detector, "appears twice");
      DetectorConfig& params = detector_params_[name];
      params.name = name;
      params.line = detector.line;
      if (detector.value.IsNull()) continue;  // no parameters: the detector's defaults
      if (!detector.value.IsMap()) {
        return Fail(detector, "expected a map of parameters, got " + Describe(detector.value));
      }
      for (const auto& param : detector.value) {
        const Entry entry{param.second, detector.key + "." + param.first.Scalar(),
                          LineOf(param.first)};
        for (const Param& existing : params.params) {
          if (existing.key == param.first.Scalar()) return Fail(entry, "appears twice");
        }
        if (!param.second.IsScalar()) {
          return Fail(entry, "expected a single value, got " + Describe(param.second));
        }
        params.params.push_back({param.first.Scalar(), param.second.Scalar()});
        params.param_lines.push_back(entry.line);
      }
    }
    return Status::Ok();
  }

  Status ReadPipeline(const Entry& section) {
    return ReadMap(section,
                   {{"triggers",
                     [&](const Entry& e) {
                       std::vector<std::string> names;
                       std::vector<int> lines;
                       Status status = ReadTextList(e, &names, &lines);
                       if (!status.ok()) return status;
                       if (names.empty()) {
                         return Fail(e, "expected at least one trigger detector");
                       }
                       config_->triggers.clear();
                       for (size_t i = 0; i < names.size(); ++i) {
                         for (size_t j = 0; j < i; ++j) {
                           if (names[j] == names[i]) {
                             return Fail(
                                 Entry{e.value[i], e.key + "[" + std::to_string(i) + "]", lines[i]},
                                 "'" + names[i] + "' is already listed as " + e.key + "[" +
                                     std::to_string(j) + "]");
                           }
                         }
                         config_->triggers.push_back({names[i], {}, {}, lines[i]});
                       }
                       return Status::Ok();
                     }},
                    {"recovery", [&](const Entry& e) {
                       config_->recovery = {"", {}, {}, e.line};
                       return ReadText(e, &config_->recovery.name);
                     }}});
  }

  Status ReadRetention(const Entry& section) {
    RetentionConfig& r = config_->retention;
    return ReadMap(
        section,
        {{"telemetry_days",
          [&](const Entry& e) { return ReadPositive(e, kMaxRetentionDays, &r.telemetry_days); }},
         {"events_days",
          [&](const Entry& e) { return ReadPositive(e, kMaxRetentionDays, &r.events_days); }}});
  }

  Status ReadServer(const Entry& section) {
    ServerConfig& s = config_->server;
    auto timeout = [&](uint32_t* out) {
      return
          [this, out](const Entry& e) { return ReadInteger<uint32_t>(e, 1, kMaxTimeoutMs, out); };
    };
    return ReadMap(
        section,
        {{"host", [&](const Entry& e) { return ReadText(e, &s.host); }},
         {"port", [&](const Entry& e) { return ReadInteger<uint16_t>(e, 0, 65535, &s.port); }},
         {"threads",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, 1, kMaxServerThreads, &s.threads);
          }},
         {"max_request_bytes",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, 1, kMaxRequestBytes, &s.max_request_bytes);
          }},
         {"header_timeout_ms", timeout(&s.header_timeout_ms)},
         {"body_timeout_ms", timeout(&s.body_timeout_ms)},
         {"keepalive_timeout_ms", timeout(&s.keepalive_timeout_ms)},
         {"max_connections",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, 0, kMaxConnections, &s.max_connections);
          }},
         {"access_log", [&](const Entry& e) { return ReadText(e, &s.access_log); }},
         {"auth_tokens", [&](const Entry& e) {
            // Never quoted in a message: a token on a line of its own would end up in a log.
            if (e.value.IsScalar()) return Fail(e, "expected a list of tokens, got a single text");
            return ReadTextList(e, &s.auth_tokens);
          }}});
  }

  Status ReadStorage(const Entry& section) {
    StorageConfig& s = config_->storage;
    auto backend_text = [this](const char* key) {
      return [this, key](const Entry& e) {
        std::string text;
        Status read = ReadText(e, &text);
        if (read.ok()) AddBackendParam(e, key, std::move(text));
        return read;
      };
    };
    return ReadMap(section, {{"plugin", [&](const Entry& e) { return ReadText(e, &s.plugin); }},
                             {"path", [&](const Entry& e) { return ReadText(e, &s.path); }},
                             {"commit_interval_ms",
                              [&](const Entry& e) {
                                return ReadInteger<uint32_t>(e, 1, kMaxCommitIntervalMs,
                                                             &s.commit_interval_ms);
                              }},
                             {"snapshot_every",
                              [&](const Entry& e) {
                                return ReadInteger<uint32_t>(e, 1, kUInt32Max, &s.snapshot_every);
                              }},
                             {"url", backend_text("url")},
                             {"namespace", backend_text("namespace")},
                             {"lease_seconds",
                              [&](const Entry& e) {
                                uint32_t seconds = 0;
                                Status read =
                                    ReadInteger<uint32_t>(e, 1, kMaxLeaseSeconds, &seconds);
                                if (read.ok())
                                  AddBackendParam(e, "lease_seconds", std::to_string(seconds));
                                return read;
                              }},
                             {"standby", [&](const Entry& e) {
                                bool standby = false;
                                Status read = ReadBool(e, &standby);
                                if (read.ok())
                                  AddBackendParam(e, "standby", standby ? "true" : "false");
                                return read;
                              }}});
  }

  // A backend's own key, passed on as the text the file wrote.
  void AddBackendParam(const Entry& e, const char* key, std::string value) {
    config_->storage.backend_params.push_back({key, std::move(value)});
    config_->storage.backend_param_lines.push_back(e.line);
  }

  Status ReadIngest(const Entry& section) {
    IngestConfig& i = config_->ingest;
    return ReadMap(
        section,
        {{"queue_capacity",
          [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, 1, kUInt32Max, &i.queue_capacity);
          }},
         {"max_services",
          [&](const Entry& e) { return ReadInteger<uint32_t>(e, 1, kUInt32Max, &i.max_services); }},
         {"durable", [&](const Entry& e) { return ReadBool(e, &i.durable); }},
         {"max_future_seconds", [&](const Entry& e) {
            return ReadInteger<uint32_t>(e, 0, kMaxFutureSeconds, &i.max_future_seconds);
          }}});
  }

  // A duration: a whole number of seconds, or one with a unit: "90s", "5m", "24h", "2d".
  Status ReadDuration(const Entry& e, uint32_t min, uint32_t max, uint32_t* out) const {
    const std::string expected = "expected a duration from " + std::to_string(min) + "s to " +
                                 std::to_string(max) + "s, like 90, 90s, 5m, 24h or 2d";
    if (!e.value.IsScalar() || e.value.Scalar().empty()) {
      return Fail(e, expected + ", got " + Describe(e.value));
    }
    std::string text = e.value.Scalar();
    uint64_t unit = 1;
    const char last = text.back();
    if (last == 's' || last == 'm' || last == 'h' || last == 'd') {
      unit = last == 's' ? 1 : last == 'm' ? 60 : last == 'h' ? 3600 : 86400;
      text.pop_back();
    }
    uint64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || number > max ||
        number * unit < min || number * unit > max) {
      return Fail(e, expected + ", got " + Describe(e.value));
    }
    *out = static_cast<uint32_t>(number * unit);
    return Status::Ok();
  }

  // An http:// or https:// URL with a host. Never quoted back: a webhook URL is often a secret.
  Status ReadUrl(const Entry& e, const std::string& url) const {
    const size_t scheme = url.find("://");
    const std::string name = scheme == std::string::npos ? "" : url.substr(0, scheme);
    const size_t host_end = url.find_first_of("/?#", scheme == std::string::npos ? 0 : scheme + 3);
    const std::string host =
        scheme == std::string::npos
            ? ""
            : url.substr(scheme + 3,
                         host_end == std::string::npos ? std::string::npos : host_end - scheme - 3);
    const bool clean = std::none_of(url.begin(), url.end(), [](char c) {
      return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
    });
    if ((name != "http" && name != "https") || host.empty() || host.front() == ':' || !clean) {
      return Fail(e, "expected an http:// or https:// URL with a host (the value is not shown)");
    }
    return Status::Ok();
  }

  // The value of the environment variable a `*_env` key names. A missing one is named, never a
  // value.
  Status ReadEnv(const Entry& e, std::string* out) const {
    std::string variable;
    Status status = ReadText(e, &variable);
    if (!status.ok()) return status;
    const bool name_ok = !std::isdigit(static_cast<unsigned char>(variable[0])) &&
                         std::all_of(variable.begin(), variable.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
    if (!name_ok)
      return Fail(e, "expected the name of an environment variable, got " + Describe(e.value));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || *value == '\0') {
      return Fail(e, "the environment variable " + variable + " is not set (or is empty)");
    }
    *out = value;
    return Status::Ok();
  }

  Status ReadNotify(const Entry& section) {
    NotifyConfig& n = config_->notify;
    return ReadMap(
        section,
        {{"public_url",
          [&](const Entry& e) {
            Status status = ReadText(e, &n.public_url);
            return status.ok() ? ReadUrl(e, n.public_url) : status;
          }},
         {"on",
          [&](const Entry& e) {
            std::vector<std::string> on;
            std::vector<int> lines;
            Status status = ReadTextList(e, &on, &lines);
            if (!status.ok()) return status;
            for (size_t i = 0; i < on.size(); ++i) {
              const Entry item{e.value[i], e.key + "[" + std::to_string(i) + "]", lines[i]};
              if (std::find(std::begin(kNotifyOn), std::end(kNotifyOn), on[i]) ==
                  std::end(kNotifyOn)) {
                return Fail(item,
                            "expected one of drift_detected, recovered, "
                            "baseline_established, reset; got " +
                                Describe(item.value));
              }
              if (std::find(on.begin(), on.begin() + static_cast<long>(i), on[i]) !=
                  on.begin() + static_cast<long>(i)) {
                return Fail(item, "'" + on[i] + "' is listed twice");
              }
            }
            n.on = std::move(on);
            return Status::Ok();
          }},
         {"resend_interval",
          [&](const Entry& e) {
            return ReadDuration(e, 1, kMaxNotifySeconds, &n.resend_interval_seconds);
          }},
         {"timeout", [&](const Entry& e) { return ReadDuration(e, 1, 600, &n.timeout_seconds); }},
         {"give_up_after",
          [&](const Entry& e) {
            return ReadDuration(e, 1, kMaxNotifySeconds, &n.give_up_after_seconds);
          }},
         {"targets", [&](const Entry& e) { return ReadNotifyTargets(e); }}});
  }

  Status ReadNotifyTargets(const Entry& e) {
    std::vector<NotifyTarget> targets;
    if (!e.value.IsNull()) {
      if (!e.value.IsSequence())
        return Fail(e, "expected a list of targets, got " + Describe(e.value));
      for (size_t i = 0; i < e.value.size(); ++i) {
        const Entry item{e.value[i], e.key + "[" + std::to_string(i) + "]", LineOf(e.value[i])};
        NotifyTarget target;
        Status status = ReadNotifyTarget(item, &target);
        if (!status.ok()) return status;
        for (const NotifyTarget& earlier : targets) {
          if (earlier.name == target.name) {
            return Fail(Entry{{}, item.key + ".name", target.line},
                        "the name '" + target.name + "' is already used by another target");
          }
        }
        targets.push_back(std::move(target));
      }
    }
    config_->notify.targets = std::move(targets);
    return Status::Ok();
  }

  // One target: {name, type, url | url_env, secret | secret_env, routing_key | routing_key_env,
  // headers}, with the keys its type needs and no other.
  Status ReadNotifyTarget(const Entry& e, NotifyTarget* target) {
    target->line = e.line;
    std::map<std::string, int> set;  // the keys present, and their lines
    // `key: value` or `key_env: VARIABLE`, into the same place.
    const auto text = [&](const char* key, std::string* out) -> FieldReader {
      return [&set, this, key, out](const Entry& f) {
        set[key] = f.line;
        return ReadText(f, out);
      };
    };
    const auto env = [&](const char* key, std::string* out) -> FieldReader {
      return [&set, this, key, out](const Entry& f) {
        set[std::string(key) + "_env"] = f.line;
        return ReadEnv(f, out);
      };
    };
    Status status = ReadMap(
        e, {{"name",
             [&](const Entry& f) {
               set["name"] = f.line;
               Status read = ReadText(f, &target->name);
               const bool ok = read.ok() && target->name.size() <= 64 &&
                               std::all_of(target->name.begin(), target->name.end(), [](char c) {
                                 return std::islower(static_cast<unsigned char>(c)) ||
                                        std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
                                        c == '-';
                               });
               return ok ? read
                         : Fail(f, "expected 1-64 characters of a-z 0-9 _ -, got " +
                                       Describe(f.value));
             }},
            {"type",
             [&](const Entry& f) {
               set["type"] = f.line;
               Status read = ReadText(f, &target->type);
               const std::string& t = target->type;
               if (read.ok() && t != "alertmanager" && t != "webhook" && t != "slack" &&
                   t != "pagerduty") {
                 return Fail(f, "expected alertmanager, webhook, slack or pagerduty, got " +
                                    Describe(f.value));
               }
               return read;
             }},
            {"url", text("url", &target->url)},
            {"url_env", env("url", &target->url)},
            {"secret", text("secret", &target->secret)},
            {"secret_env", env("secret", &target->secret)},
            {"routing_key", text("routing_key", &target->routing_key)},
            {"routing_key_env", env("routing_key", &target->routing_key)},
            {"headers", [&](const Entry& f) {
               set["headers"] = f.line;
               return ReadHeaders(f, &target->headers);
             }}});
    if (!status.ok()) return status;
    const auto missing = [&](const std::string& what) { return Fail(e, "a target needs " + what); };
    if (!set.contains("name")) return missing("a name");
    if (!set.contains("type")) return missing("a type (alertmanager, webhook, slack or pagerduty)");
    const std::string& type = target->type;
    const std::string prefix = e.key + ".";
    for (const char* pair : {"url", "secret", "routing_key"}) {
      const std::string env_key = std::string(pair) + "_env";
      if (set.contains(pair) && set.contains(env_key)) {
        return Fail(Entry{{}, prefix + env_key, set[env_key]},
                    std::string("set ") + pair + " or " + env_key + ", not both");
      }
    }
    const bool has_url = set.contains("url") || set.contains("url_env");
    const bool has_key = set.contains("routing_key") || set.contains("routing_key_env");
    // What each type may have besides name and type.
    const std::vector<std::string> allowed =
        type == "webhook"     ? std::vector<std::string>{"url", "secret", "headers"}
        : type == "pagerduty" ? std::vector<std::string>{"url", "routing_key"}
                              : std::vector<std::string>{"url"};
    for (const auto& [present, line] : set) {
      std::string base = present;
      if (base.size() > 4 && base.ends_with("_env")) base.resize(base.size() - 4);
      if (base == "name" || base == "type") continue;
      if (std::find(allowed.begin(), allowed.end(), base) == allowed.end()) {
        return Fail(Entry{{}, prefix + present, line}, "not used by a target of type " + type);
      }
    }
    if (type == "pagerduty") {
      if (!has_key) return Fail(e, "a pagerduty target needs routing_key or routing_key_env");
      if (!has_url) target->url = kPagerDutyEventsUrl;
    } else if (!has_url) {
      return Fail(e, "a " + type + " target needs url or url_env");
    }
    const int url_line = set.contains("url")       ? set["url"]
                         : set.contains("url_env") ? set["url_env"]
                                                   : e.line;
    const std::string url_key = set.contains("url_env") ? "url_env" : "url";
    return ReadUrl(Entry{{}, prefix + url_key, url_line}, target->url);
  }

  Status ReadHeaders(const Entry& e, std::vector<std::pair<std::string, std::string>>* out) const {
    if (!e.value.IsMap())
      return Fail(e, "expected a map of header names to values, got " + Describe(e.value));
    for (const auto& item : e.value) {
      const std::string name = item.first.Scalar();
      const Entry header{item.second, e.key + "." + name, LineOf(item.first)};
      const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
      });
      if (!token) return Fail(header, "not a valid header name");
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (std::find_if(std::begin(kReservedHeaders), std::end(kReservedHeaders),
                       [&](const char* reserved) { return lower == reserved; }) !=
          std::end(kReservedHeaders)) {
        return Fail(header, "set by DriftWatch itself, it cannot be configured");
      }
      std::string value;
      Status status = ReadText(header, &value);
      if (!status.ok()) return status;
      if (value.find_first_of("\r\n") != std::string::npos) {
        return Fail(header, "a header value cannot span lines");
      }
      out->emplace_back(name, value);
    }
    return Status::Ok();
  }

  Status ReadMetrics(const Entry& section) {
    MetricsConfig& m = config_->metrics;
    return ReadMap(section, {{"per_service_limit", [&](const Entry& e) {
                                return ReadInteger<uint32_t>(e, 0, kUInt32Max,
                                                             &m.per_service_limit);
                              }}});
  }

  Status ReadSeries(const Entry& section) {
    SeriesConfig& s = config_->series;
    return ReadMap(section,
                   {{"per_endpoint", [&](const Entry& e) { return ReadBool(e, &s.per_endpoint); }},
                    {"max_endpoints_per_service", [&](const Entry& e) {
                       return ReadInteger<uint32_t>(e, 1, kMaxEndpointsPerService,
                                                    &s.max_endpoints_per_service);
                     }}});
  }

  Status ReadPlugins(const Entry& section) {
    return ReadMap(
        section,
        {{"dirs", [&](const Entry& e) { return ReadTextList(e, &config_->plugin_dirs); }}});
  }

  // min_samples <= window_size, blaming whichever of the two the file set (min_samples if both).
  Status CheckBaseline() const {
    const BaselineParams& b = config_->baseline;
    if (b.min_samples <= b.window_size) return Status::Ok();
    const auto min_line = lines_.find("baseline.min_samples");
    if (min_line != lines_.end()) {
      return Fail(Entry{{}, "baseline.min_samples", min_line->second},
                  "must be <= baseline.window_size (" + std::to_string(b.window_size) + "), got " +
                      std::to_string(b.min_samples));
    }
    return Fail(Entry{{}, "baseline.window_size", lines_.at("baseline.window_size")},
                "must be >= baseline.min_samples (" + std::to_string(b.min_samples) + "), got " +
                    std::to_string(b.window_size));
  }

  // Gives each pipeline detector its parameters; parameters for a detector that does not run are
  // a mistake (a typo in its name, most likely).
  Status AttachDetectorParams() {
    for (const auto& entry : detector_params_) {
      const auto& name = entry.first;
      const auto& params = entry.second;
      bool used = false;
      auto attach = [&](DetectorConfig& detector) {
        if (detector.name != name) return;
        detector.params = params.params;
        detector.param_lines = params.param_lines;
        used = true;
      };
      for (DetectorConfig& trigger : config_->triggers) attach(trigger);
      attach(config_->recovery);
      if (!used) {
        return Fail(Entry{{}, "detectors." + name, params.line},
                    "detector '" + name + "' is not in pipeline.triggers or pipeline.recovery");
      }
    }
    return Status::Ok();
  }

  const std::string file_;
  Config* config_;
  std::map<std::string, int> lines_;                       // dotted key -> line, for cross-checks
  std::map<std::string, DetectorConfig> detector_params_;  // detectors.<name>, by name
};

}  // namespace

Status LoadConfigFile(const std::string& path, Config* config) {
  std::error_code kind_error;
  if (std::filesystem::is_directory(path, kind_error)) {
    return Status::Error(path + ": cannot read config file: it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Error(path + ": cannot read config file: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Status::Error(path + ": cannot read config file: " + std::strerror(errno));
  }

  return LoadConfigText(text.str(), path, config);
}

Status LoadConfigText(const std::string& text, const std::string& path, Config* config) {
  const auto line_of = [](const YAML::Mark& mark) {
    return std::to_string(mark.is_null() ? 0 : mark.line + 1);
  };
  DocumentRoots documents;
  YAML::Node root;
  try {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    while (parser.HandleNextDocument(documents)) {
      if (!documents.Progressed()) {
        const YAML::Mark& stuck = documents.roots.back();
        return Status::Error(path + ":" + line_of(stuck) +
                             ": invalid YAML: the parser cannot read on from here");
      }
    }
    if (documents.roots.size() == 1) root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::Error(path + ":" + line_of(e.mark) + ": invalid YAML: " + e.msg);
  }
  if (documents.roots.size() > 1) {
    return Status::Error(path + ":" + line_of(documents.roots[1]) +
                         ": expected one YAML document, found " +
                         std::to_string(documents.roots.size()));
  }

  Config loaded = *config;  // *config changes only if the whole file is good
  loaded.source = path;
  if (documents.roots.size() == 1) {
    try {
      Status status = ConfigParser(path, &loaded).Parse(root);
      if (!status.ok()) return status;
    } catch (const YAML::Exception& e) {
      const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
      return Status::Error(path + ":" + std::to_string(line) + ": " + e.msg);
    }
  }
  *config = std::move(loaded);
  return Status::Ok();
}

}  // namespace driftwatch
