// Reading recorded telemetry for `driftwatch replay` (docs/replay.md, Input): CSV in the Numenta
// Anomaly Benchmark's two-column form (timestamp,value) or with named columns, JSON Lines of
// samples as the API takes them, and directories of such files. Every sample is validated as
// the server validates it; a bad row is an error naming its file and line, or, when the caller
// asks, skipped and counted. A row's endpoint is validated as the server validates it, whether or
// not endpoint series are on; the replay decides what to do with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/sample.h"
#include "core/status.h"

namespace driftwatch::replay {

// An InputRow whose sample names no endpoint.
inline constexpr uint32_t kNoEndpoint = UINT32_MAX;

// One sample of a file.
struct InputRow {
  uint32_t service = 0;             // index into its InputFile's services
  uint32_t endpoint = kNoEndpoint;  // index into its InputFile's endpoints, if it names one
  Sample sample;
  size_t row = 0;  // 0-based data row in its file (the index NAB scoring counts in)
  int line = 0;    // 1-based line in its file
};

struct InputFile {
  std::string path;  // as found (the argument, or under a directory argument)
  // The service ids its rows name, in order of first appearance (a file without a service_id
  // column: its own, named after it).
  std::vector<std::string> services;
  // The endpoints its rows name (an `endpoint` column or field), in order of first appearance.
  std::vector<std::string> endpoints;
  std::vector<InputRow> rows;  // the valid samples, in file order
  size_t data_rows = 0;        // rows of data, the bad ones included
  // The timestamp of every data row (a bad row without a readable one repeats the previous), for
  // placing NAB's label windows by row.
  std::vector<int64_t> row_timestamps;
  size_t skipped = 0;             // bad rows skipped (skip_bad)
  std::string first_skip_reason;  // "file:line: why" of the first one
};

// Expands the command line's inputs: a file stays; a directory gives every *.csv, *.jsonl and
// *.ndjson file under it, recursively, in path order. Fails on a path that does not exist or a
// directory that holds no such file.
Status ExpandInputs(const std::vector<std::string>& inputs, std::vector<std::string>* files);

// Reads one file. Rows without a service_id column or field belong to the service named after
// the file (its name without the extension). With skip_bad, a bad row is counted and skipped;
// without, it fails the read with "FILE:LINE: why". A file that cannot be read or whose header is
// not understood always fails.
Status ReadInputFile(const std::string& path, bool skip_bad, InputFile* out);

// NAB's timestamps ("2014-04-01 00:00:00", UTC, any fraction) and RFC 3339 ones, in epoch
// milliseconds; nothing when the text is neither.
bool ParseRecordedTimestamp(std::string_view text, int64_t* out_ms);

}  // namespace driftwatch::replay
