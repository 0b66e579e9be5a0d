// Opt-in trigger (docs/detectors.md, cusum): a two-sided CUSUM on the z-score, for slow creeps
// and small sustained shifts that never reach the default rules' thresholds.
//   S+ = max(0, S+ + z - k),  S- = max(0, S- - z - k);  fires when S+ > h or S- > h.
#include <driftwatch/plugin.hpp>

#include <algorithm>

namespace {

using driftwatch::sdk::Params;

constexpr uint8_t kStateVersion = 1;

class Cusum {
 public:
  static constexpr const char* kName = "cusum";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;

  struct Config {
    double k;  // reference value: the shift in z that is ignored per sample
    double h;  // decision interval
  };

  static Config Configure(Params& params) {
    Config config;
    config.k = params.Double("k", 1.0, 0.0, 100.0);
    config.h = params.Double("h", 16.0, 0.001, 1e6);
    return config;
  }

  explicit Cusum(const Config&) {}

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    high_ = std::max(0.0, high_ + observation.zscore - config.k);
    low_ = std::max(0.0, low_ - observation.zscore - config.k);
    if (high_ > config.h || low_ > config.h) {
      verdict.Fire("cumulative_shift", {{"cusum_high", high_},
                                        {"cusum_low", low_},
                                        {"direction", high_ > config.h ? 1.0 : -1.0}});
    }
  }

  void Reset(const Config&) {
    high_ = 0.0;
    low_ = 0.0;
  }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(high_);
    out.Put(low_);
  }

  void Restore(const Config&, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("unknown saved state version");
    }
    high_ = in.Get<double>();
    low_ = in.Get<double>();
  }

 private:
  double high_ = 0.0;  // S+: evidence of a rise
  double low_ = 0.0;   // S-: evidence of a fall
};

}  // namespace

DRIFTWATCH_PLUGIN(Cusum::kName, Cusum::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<Cusum>::Get()),
                  DRIFTWATCH_NO_STORAGES);
