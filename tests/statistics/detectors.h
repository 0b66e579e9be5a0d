// The bundled detectors, loaded from their .so files in the build tree and configured for tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/detector.h"
#include "core/plugin_loader.h"

namespace driftwatch::testing {

// Every plugin the statistics tests use, loaded once per process (plugins are never unloaded).
inline const PluginRegistry& Plugins() {
  static const PluginRegistry* registry = [] {
    auto* loaded = new PluginRegistry();
    const std::string bundled = DRIFTWATCH_TEST_PLUGIN_DIR;
    for (const char* name :
         {"zscore_severe", "moderate_window", "recovery", "cusum", "ewma", "median_z"}) {
      const Status status = loaded->LoadFile(bundled + "/" + name + ".so");
      if (!status.ok()) ADD_FAILURE() << status.message();
    }
    const Status status = loaded->LoadFile(std::string(DRIFTWATCH_STATISTICS_FIXTURE_DIR) +
                                           "/statistics_fixture_detectors.so");
    if (!status.ok()) ADD_FAILURE() << status.message();
    return loaded;
  }();
  return *registry;
}

// The named detector configured with `params`; fails the test if that does not work.
inline std::unique_ptr<ConfiguredDetector> Configure(const std::string& name,
                                                     const std::vector<Param>& params = {}) {
  std::unique_ptr<ConfiguredDetector> detector;
  const dw_type_detector* vtable = Plugins().FindDetector(name);
  if (vtable == nullptr) {
    ADD_FAILURE() << "detector " << name << " is not loaded";
    return detector;
  }
  int32_t bad_param = -1;
  const Status status = ConfiguredDetector::Create(vtable, params, &detector, &bad_param);
  if (!status.ok()) ADD_FAILURE() << name << ": " << status.message();
  return detector;
}

// The default pipeline (docs/behaviour.md, Defaults): zscore_severe, moderate_window, then
// recovery, all with their default parameters.
inline DetectorSet DefaultDetectors() {
  DetectorSet set;
  set.triggers.push_back(Configure("zscore_severe"));
  set.triggers.push_back(Configure("moderate_window"));
  set.recovery = Configure("recovery");
  return set;
}

}  // namespace driftwatch::testing
