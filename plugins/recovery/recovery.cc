// Recovery (docs/behaviour.md, Detectors): answers RECOVERED after `consecutive` samples in a row
// with |z| <= `threshold`.
#include <driftwatch/plugin.hpp>

namespace {

using driftwatch::sdk::Params;

constexpr uint8_t kStateVersion = 1;

class Recovery {
 public:
  static constexpr const char* kName = "recovery";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_RECOVERY;

  struct Config {
    double threshold;
    uint32_t consecutive;
  };

  static Config Configure(Params& params) {
    Config config;
    config.threshold = params.Double("threshold", 2.0, 0.0, 1e6);
    config.consecutive = params.UInt("consecutive", 50, 1, 1000000);
    return config;
  }

  explicit Recovery(const Config&) {}

  void Observe(const Config& config, const dw_type_observation& observation,
               driftwatch::sdk::Verdict& verdict) {
    run_ = observation.abs_zscore <= config.threshold ? run_ + 1 : 0;
    if (run_ >= config.consecutive) {
      verdict.Recovered("recovered", {{"consecutive_normal", static_cast<double>(run_)}});
    }
  }

  void Reset(const Config&) { run_ = 0; }

  void Save(driftwatch::sdk::StateWriter& out) const {
    out.Put(kStateVersion);
    out.Put(run_);
  }

  void Restore(const Config&, driftwatch::sdk::StateReader& in) {
    if (in.Get<uint8_t>() != kStateVersion) {
      throw driftwatch::sdk::CorruptState("unknown saved state version");
    }
    run_ = in.Get<uint32_t>();
  }

 private:
  uint32_t run_ = 0;  // consecutive samples at or below the threshold
};

}  // namespace

DRIFTWATCH_PLUGIN(Recovery::kName, Recovery::kVersion,
                  DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<Recovery>::Get()),
                  DRIFTWATCH_NO_STORAGES);
