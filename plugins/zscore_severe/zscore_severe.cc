// Rule 1 (docs/behaviour.md, Detectors): fires when `consecutive` samples in a row have
// |z| > `threshold`.
#include <driftwatch/plugin.hpp>

#include <algorithm>

namespace {

using driftwatch::sdk::Params;

constexpr uint8_t kStateVersion = 1;

class ZscoreSevere {
 public:
  static constexpr const char* kName = "zscore_severe";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;

  struct Config {
    double threshold;
    uint32_t consecutive;
  };

  static Config Configure(Params& params) {
    Config config;
    config.threshold = params.Double("threshold", 3.0, 0.0, 1e6);
    config.consecutive = params.UInt("consecutive", 5, 1, 1000000);
    return config;
  }

  explicit ZscoreSevere(const Config&) {}

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    if (observation.abs_zscore > config.threshold) {
      ++run_;
      max_zscore_ = std::max(max_zscore_, observation.abs_zscore);
    } else {
      run_ = 0;
      max_zscore_ = 0.0;
    }
    if (run_ >= config.consecutive) {
      verdict.Fire("consecutive_severe_anomalies",
                   {{"consecutive_count", static_cast<double>(run_)}, {"max_zscore", max_zscore_}});
    }
  }

  void Reset(const Config&) {
    run_ = 0;
    max_zscore_ = 0.0;
  }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(run_);
    out.Put(max_zscore_);
  }

  void Restore(const Config&, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("unknown saved state version");
    }
    run_ = in.Get<uint32_t>();
    max_zscore_ = in.Get<double>();
  }

 private:
  uint32_t run_ = 0;         // consecutive samples above the threshold
  double max_zscore_ = 0.0;  // the largest |z| of the current run
};

}  // namespace

DRIFTWATCH_PLUGIN(ZscoreSevere::kName, ZscoreSevere::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<ZscoreSevere>::Get()),
                  DRIFTWATCH_NO_STORAGES);
