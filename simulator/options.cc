#include "simulator/options.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include "http_client/url.h"

namespace driftwatch::sim {
namespace {

constexpr double kMaxRatePerSecond = 100000.0;
constexpr int64_t kMaxSamples = 100'000'000;
constexpr size_t kMaxServiceIdChars = 128;

std::optional<double> ParsePositiveNumber(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value) || value <= 0) {
    return std::nullopt;
  }
  return value;
}

bool IsValidServiceId(std::string_view id) {
  if (id.empty() || id.size() > kMaxServiceIdChars) return false;
  for (const char c : id) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':';
    if (!allowed) return false;
  }
  return true;
}

}  // namespace

int64_t Options::TotalSamples() const { return std::llround(duration_s * rate_per_s); }

std::string UsageText() {
  return R"(Usage: driftwatch-sim --mode NORMAL|SPIKE|CREEP --duration SECONDS [options]

Sends synthetic telemetry for one service to a running DriftWatch, and with --verify checks
the acceptance criteria against it.

  --mode M            NORMAL: latency ~ N(150, 25) ms, payload ~ N(2.45, 0.76) KB
                      SPIKE:  NORMAL, then latency x3 from 30% to 50% of the samples
                      CREEP:  NORMAL, then latency rising linearly to x3 from 25% to 65%
  --duration S        seconds of traffic; duration x rate samples
  --rate R            samples per second (default 10)
  --service ID        service_id to report as (default test-payment-service)
  --url URL           DriftWatch's address (default http://localhost:8000)
  --seed N            random seed; the same seed sends the same samples (default 42)
  --synthetic-time    do not wait: timestamps spaced 1/rate and ending now, sent as fast
                      as the server takes them (a 90 s scenario runs in about a second)
  --verify            check the acceptance criteria; exit 1 when one fails
  --json              print the result as one JSON object on stdout
  --help              show this text
  --version           show the version

Exit status: 0 done (criteria met with --verify), 1 a criterion failed, 2 usage or connection error.
)";
}

ParseOutcome ParseArguments(int argc, const char* const argv[], Options* options,
                            std::string* error) {
  // --help and --version answer whatever else the command line holds.
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--help" || argument == "-h") return ParseOutcome::kHelp;
    if (argument == "--version") return ParseOutcome::kVersion;
  }
  Options parsed;
  bool have_mode = false;
  bool have_duration = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    std::optional<std::string_view> inline_value;
    if (const size_t equals = flag.find('='); flag.starts_with("--") && equals != flag.npos) {
      inline_value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    bool* switch_flag = flag == "--synthetic-time" ? &parsed.synthetic_time
                        : flag == "--verify"       ? &parsed.verify
                        : flag == "--json"         ? &parsed.json
                                                   : nullptr;
    if (switch_flag != nullptr) {
      if (inline_value) {
        *error = std::string(flag) + " takes no value";
        return ParseOutcome::kError;
      }
      *switch_flag = true;
      continue;
    }

    const bool takes_value = flag == "--mode" || flag == "--duration" || flag == "--rate" ||
                             flag == "--service" || flag == "--url" || flag == "--seed";
    if (!takes_value) {
      *error = "unknown option '" + std::string(argv[i]) + "'";
      return ParseOutcome::kError;
    }
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      *error = std::string(flag) + " needs a value";
      return ParseOutcome::kError;
    }

    if (flag == "--mode") {
      const std::optional<Mode> mode = ParseMode(value);
      if (!mode) {
        *error = "--mode must be NORMAL, SPIKE or CREEP, not '" + std::string(value) + "'";
        return ParseOutcome::kError;
      }
      parsed.mode = *mode;
      have_mode = true;
    } else if (flag == "--duration" || flag == "--rate") {
      const std::optional<double> number = ParsePositiveNumber(value);
      if (!number) {
        *error = std::string(flag) + " must be a positive number, not '" + std::string(value) + "'";
        return ParseOutcome::kError;
      }
      (flag == "--duration" ? parsed.duration_s : parsed.rate_per_s) = *number;
      have_duration = have_duration || flag == "--duration";
    } else if (flag == "--service") {
      if (!IsValidServiceId(value)) {
        *error = "--service must be 1-128 characters of A-Z a-z 0-9 . _ - :, not '" +
                 std::string(value) + "'";
        return ParseOutcome::kError;
      }
      parsed.service = std::string(value);
    } else if (flag == "--url") {
      http::Url url;
      if (Status valid = http::ParseUrl(value, &url); !valid.ok()) {
        *error = "--url: " + valid.message();
        return ParseOutcome::kError;
      }
      parsed.url = std::string(value);
    } else if (flag == "--seed") {
      uint64_t seed = 0;
      const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), seed);
      if (value.empty() || failure != std::errc() || end != value.data() + value.size()) {
        *error = "--seed must be a whole number from 0 to 18446744073709551615, not '" +
                 std::string(value) + "'";
        return ParseOutcome::kError;
      }
      parsed.seed = seed;
    }
  }

  if (!have_mode) {
    *error = "--mode is required (NORMAL, SPIKE or CREEP)";
    return ParseOutcome::kError;
  }
  if (!have_duration) {
    *error = "--duration is required (seconds of traffic)";
    return ParseOutcome::kError;
  }
  if (parsed.rate_per_s > kMaxRatePerSecond) {
    *error = "--rate must be at most " + std::to_string(static_cast<int64_t>(kMaxRatePerSecond));
    return ParseOutcome::kError;
  }
  const int64_t total = parsed.TotalSamples();
  if (parsed.duration_s * parsed.rate_per_s > static_cast<double>(kMaxSamples)) {
    *error = "--duration x --rate must be at most " + std::to_string(kMaxSamples) + " samples";
    return ParseOutcome::kError;
  }
  if (total < 1) {
    *error = "--duration x --rate gives no sample; send at least one";
    return ParseOutcome::kError;
  }
  *options = std::move(parsed);
  return ParseOutcome::kRun;
}

}  // namespace driftwatch::sim
