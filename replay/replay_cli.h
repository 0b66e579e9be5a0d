// The command line of `driftwatch replay` (docs/replay.md): api/main.cc hands it the arguments
// after "replay".
#pragma once

namespace driftwatch::replay {

// argv[0] is "replay". Returns the exit code: 0, 1 (a failure, said on stderr) or 2 (usage).
int ReplayMain(int argc, char** argv);

}  // namespace driftwatch::replay
