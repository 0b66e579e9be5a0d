// Start-up recovery: puts every service the store knows back into the registry, exactly as it was
// (its last snapshot, then a replay of the samples stored after it), or, when its saved state
// cannot be used, rebuilt from its stored samples (docs/behaviour.md, "Storage").
#pragma once

#include <vector>

#include "core/detector.h"
#include "core/service_registry.h"
#include "core/status.h"
#include "core/storage.h"

namespace driftwatch {

// Fills `registry` (still used by no other thread) from `store`. What the recovery must itself
// record (each rebuild's event and fresh snapshot) goes into *to_write, for the storage writer
// once it runs. Fails when the store cannot be read, or a detector cannot create an empty state.
Status RecoverServices(Store& store, const DetectorSet& detectors, ServiceRegistry& registry,
                       std::vector<WriteBatch>* to_write);

}  // namespace driftwatch
