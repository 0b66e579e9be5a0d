// Rule 2 (docs/behaviour.md, Detectors): fires when at least `count` of the last `window` |z|
// values are above `threshold`.
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <vector>

namespace {

using driftwatch::sdk::Params;

constexpr uint8_t kStateVersion = 1;

class ModerateWindow {
 public:
  static constexpr const char* kName = "moderate_window";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;

  struct Config {
    double threshold;
    uint32_t count;
    uint32_t window;
  };

  static Config Configure(Params& params) {
    Config config;
    config.threshold = params.Double("threshold", 2.5, 0.0, 1e6);
    config.window = params.UInt("window", 20, 1, 100000);
    config.count = params.UInt("count", 10, 1, config.window);  // cannot exceed the window
    return config;
  }

  explicit ModerateWindow(const Config& config) {
    recent_.reserve(std::min<uint32_t>(config.window, kReservedValues));
  }

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    Push(config, observation.abs_zscore);
    if (above_ >= config.count) {
      verdict.Fire("moderate_anomaly_rate",
                   {{"anomaly_count", static_cast<double>(above_)},
                    {"window_size", static_cast<double>(config.window)},
                    {"max_zscore", *std::max_element(recent_.begin(), recent_.end())}});
    }
  }

  void Reset(const Config&) {
    recent_.clear();
    oldest_ = 0;
    above_ = 0;
  }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(static_cast<uint32_t>(recent_.size()));
    for (size_t i = 0; i < recent_.size(); ++i) {  // oldest first
      out.Put(recent_[(oldest_ + i) % recent_.size()]);
    }
  }

  void Restore(const Config& config, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("unknown saved state version");
    }
    // Saved under a larger window, the newest values are kept.
    const uint32_t size = in.Get<uint32_t>();
    for (uint32_t i = 0; i < size; ++i) Push(config, in.Get<double>());
  }

 private:
  // Values kept in a ring, so a sample costs no allocation and no scan of the window: a small
  // part of every request's CPU, since detectors run on the HTTP thread for single samples.
  static constexpr uint32_t kReservedValues = 1024;

  void Push(const Config& config, double abs_zscore) {
    if (recent_.size() < config.window) {
      recent_.push_back(abs_zscore);  // still filling: the oldest is recent_[0]
    } else {
      if (recent_[oldest_] > config.threshold) --above_;
      recent_[oldest_] = abs_zscore;
      oldest_ = (oldest_ + 1) % recent_.size();
    }
    if (abs_zscore > config.threshold) ++above_;
  }

  std::vector<double> recent_;  // the last `window` |z| values, a ring from recent_[oldest_]
  size_t oldest_ = 0;
  uint32_t above_ = 0;  // how many of them are above the threshold
};

}  // namespace

DRIFTWATCH_PLUGIN(ModerateWindow::kName, ModerateWindow::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<ModerateWindow>::Get()),
                  DRIFTWATCH_NO_STORAGES);
