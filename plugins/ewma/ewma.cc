// Opt-in trigger (docs/detectors.md, ewma): an exponentially weighted moving average of the
// z-score with a control limit, for small sustained shifts.
//   E = lambda * z + (1 - lambda) * E (E starts at 0);
//   fires when |E| > limit * sqrt(lambda / (2 - lambda)), i.e. `limit` standard deviations of E
//   for independent N(0, 1) z-scores, after at least `warmup` samples.
#include <driftwatch/plugin.hpp>

#include <cmath>

namespace {

using driftwatch::sdk::Params;

constexpr uint8_t kStateVersion = 1;

class Ewma {
 public:
  static constexpr const char* kName = "ewma";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;

  struct Config {
    double lambda;
    double limit;
    uint32_t warmup;
    double bound;  // limit * sqrt(lambda / (2 - lambda))
  };

  static Config Configure(Params& params) {
    Config config;
    config.lambda = params.Double("lambda", 0.05, 0.0001, 1.0);
    config.limit = params.Double("limit", 5.0, 0.1, 1e6);
    config.warmup = params.UInt("warmup", 0, 0, 1000000);
    config.bound = config.limit * std::sqrt(config.lambda / (2.0 - config.lambda));
    return config;
  }

  explicit Ewma(const Config&) {}

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    average_ = config.lambda * observation.zscore + (1.0 - config.lambda) * average_;
    if (seen_ < config.warmup) ++seen_;
    if (seen_ >= config.warmup && std::fabs(average_) > config.bound) {
      verdict.Fire("ewma_shift", {{"ewma_zscore", average_}, {"control_limit", config.bound}});
    }
  }

  void Reset(const Config&) {
    average_ = 0.0;
    seen_ = 0;
  }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(average_);
    out.Put(seen_);
  }

  void Restore(const Config&, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("unknown saved state version");
    }
    average_ = in.Get<double>();
    seen_ = in.Get<uint32_t>();
  }

 private:
  double average_ = 0.0;
  uint32_t seen_ = 0;  // samples observed, counted up to warmup
};

}  // namespace

DRIFTWATCH_PLUGIN(Ewma::kName, Ewma::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<Ewma>::Get()),
                  DRIFTWATCH_NO_STORAGES);
