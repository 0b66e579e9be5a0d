// Rule 2 (SPEC section 2): fires when at least `count` of the last `window` |z| values are
// above `threshold`.
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <deque>

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

  explicit ModerateWindow(const Config&) {}

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    Push(config, observation.abs_zscore);
    const auto above = std::count_if(recent_.begin(), recent_.end(),
                                     [&](double value) { return value > config.threshold; });
    if (static_cast<uint32_t>(above) >= config.count) {
      verdict.Fire("moderate_anomaly_rate",
                   {{"anomaly_count", static_cast<double>(above)},
                    {"window_size", static_cast<double>(config.window)},
                    {"max_zscore", *std::max_element(recent_.begin(), recent_.end())}});
    }
  }

  void Reset(const Config&) { recent_.clear(); }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(static_cast<uint32_t>(recent_.size()));
    for (double value : recent_) out.Put(value);
  }

  void Restore(const Config& config, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("moderate_window: unknown saved state version");
    }
    // Saved under a larger window, the newest values are kept.
    const uint32_t size = in.Get<uint32_t>();
    for (uint32_t i = 0; i < size; ++i) Push(config, in.Get<double>());
  }

 private:
  void Push(const Config& config, double abs_zscore) {
    recent_.push_back(abs_zscore);
    while (recent_.size() > config.window) recent_.pop_front();
  }

  std::deque<double> recent_;  // the last `window` |z| values, oldest first
};

}  // namespace

DRIFTWATCH_PLUGIN(ModerateWindow::kName, ModerateWindow::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<ModerateWindow>::Get()),
                  DRIFTWATCH_NO_STORAGES);
