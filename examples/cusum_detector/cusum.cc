// An out-of-tree DriftWatch detector: a two-sided CUSUM on the z-score. It accumulates small,
// persistent deviations that the default rules let into the baseline: a mean shift of 1.5 sigma
// rarely gives 5 consecutive |z| > 3 or 10 of 20 above 2.5, but CUSUM sees it within ~15 samples.
//
//   s_high = max(0, s_high + z - slack)    s_low = max(0, s_low - z - slack)
//   fires when either exceeds `limit`.
//
// `limit` trades speed for false alarms. The baseline is an estimate, so z is slightly biased and
// CUSUM slowly accumulates that bias too: with limit 8, most simulated runs of 10,000 normal
// samples raised a false alarm; with 14, none of 200 did, and a 1.5 sigma shift still fires after
// about 15 samples.
#include <driftwatch/plugin.hpp>

#include <algorithm>

namespace {

constexpr uint8_t kStateVersion = 1;

class Cusum {
 public:
  static constexpr const char* kName = "my_cusum";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;

  struct Config {
    double slack;  // k: the shift (in sigmas) too small to care about, halved
    double limit;  // h: the evidence needed to fire
  };

  static Config Configure(driftwatch::sdk::Params& params) {
    return Config{params.Double("slack", 0.5, 0.0, 10.0), params.Double("limit", 14.0, 0.1, 1e6)};
  }

  explicit Cusum(const Config&) {}

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    high_ = std::max(0.0, high_ + observation.zscore - config.slack);
    low_ = std::max(0.0, low_ - observation.zscore - config.slack);
    const double evidence = std::max(high_, low_);
    if (evidence > config.limit) {
      verdict.Fire("cusum_mean_shift",
                   {{"cusum", evidence}, {"direction", high_ >= low_ ? 1.0 : -1.0}});
    }
  }

  void Reset(const Config&) { high_ = low_ = 0.0; }

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
  double high_ = 0.0;  // evidence of an upward shift
  double low_ = 0.0;   // evidence of a downward shift
};

}  // namespace

DRIFTWATCH_PLUGIN("my_cusum", "1.0.0",
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<Cusum>::Get()),
                  DRIFTWATCH_NO_STORAGES);
