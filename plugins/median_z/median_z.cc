// Opt-in trigger (docs/detectors.md, median_z): fires when the median of the last `window` |z|
// values is above `threshold`. For heavy-tailed, spiky series: isolated large z-scores (which
// the default rules count) move a median little, while a shift of most samples moves it at once.
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <vector>

namespace {

using driftwatch::sdk::Params;

constexpr uint8_t kStateVersion = 1;

class MedianZ {
 public:
  static constexpr const char* kName = "median_z";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;

  struct Config {
    double threshold;
    uint32_t window;
  };

  static Config Configure(Params& params) {
    Config config;
    config.threshold = params.Double("threshold", 2.0, 0.0, 1e6);
    config.window = params.UInt("window", 30, 1, 10000);
    return config;
  }

  explicit MedianZ(const Config& config) { recent_.reserve(config.window); }

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    Push(config, observation.abs_zscore);
    if (recent_.size() < config.window) return;  // a median of a full window only
    scratch_.assign(recent_.begin(), recent_.end());
    const auto middle = scratch_.begin() + static_cast<std::ptrdiff_t>(scratch_.size() / 2);
    std::nth_element(scratch_.begin(), middle, scratch_.end());
    const double median = *middle;  // the upper median for an even window
    if (median > config.threshold) {
      verdict.Fire("median_zscore_high", {{"median_zscore", median},
                                          {"window_size", static_cast<double>(config.window)}});
    }
  }

  void Reset(const Config&) {
    recent_.clear();
    oldest_ = 0;
  }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(static_cast<uint32_t>(recent_.size()));
    for (size_t i = 0; i < recent_.size(); ++i) out.Put(recent_[(oldest_ + i) % recent_.size()]);
  }

  void Restore(const Config& config, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("unknown saved state version");
    }
    const uint32_t size = in.Get<uint32_t>();
    for (uint32_t i = 0; i < size; ++i) Push(config, in.Get<double>());
  }

 private:
  void Push(const Config& config, double abs_zscore) {
    if (recent_.size() < config.window) {
      recent_.push_back(abs_zscore);
    } else {
      recent_[oldest_] = abs_zscore;
      oldest_ = (oldest_ + 1) % recent_.size();
    }
  }

  std::vector<double> recent_;  // the last `window` |z| values, a ring from recent_[oldest_]
  size_t oldest_ = 0;
  std::vector<double> scratch_;  // reused for the median, so observing does not allocate
};

}  // namespace

DRIFTWATCH_PLUGIN(MedianZ::kName, MedianZ::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<MedianZ>::Get()),
                  DRIFTWATCH_NO_STORAGES);
