// What driftwatch-sim prints at the end of a run: a summary for people, or one JSON object.
#pragma once

#include <ostream>
#include <string>

#include "simulator/options.h"
#include "simulator/simulation.h"

namespace driftwatch::sim {

void PrintSummary(const Options& options, const RunResult& result, std::ostream& out);

// The same facts as one JSON object (no trailing newline).
std::string ResultJson(const Options& options, const RunResult& result);

}  // namespace driftwatch::sim
