// Where the storage writer sets aside what the store refused for good: one service's data that
// the store will not take (a sequence that does not rise, a constraint), so that the rest can be
// committed (docs/operations.md, "Refused data"). A JSON-lines file an operator can read and
// re-send: one line per refused sample or event, with the reason. Bounded in size.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/storage.h"

namespace driftwatch {

class RefusedLog {
 public:
  static constexpr uint64_t kDefaultMaxBytes = uint64_t{64} << 20;  // 64 MiB

  // The file is created at the first refusal, never before; `max_bytes` bounds its size.
  explicit RefusedLog(std::string path, uint64_t max_bytes = kDefaultMaxBytes);

  // Appends one line per sample and event of `part` (the data of one service), each with the
  // store's `reason`, and flushes them to disk (fsync) before it returns. Snapshots are not
  // written: they are the engine's own state, which its next snapshot replaces. All or nothing: on
  // failure (the file cannot be written, or would grow beyond max_bytes) the file is left as it
  // was and an I/O error says why.
  Status Append(const WriteBatch& part, const Status& reason, int64_t refused_at_ms) const;

  const std::string& path() const { return path_; }

  // The lines Append writes, without writing them (one per sample, then one per event).
  static std::string Lines(const WriteBatch& part, const Status& reason, int64_t refused_at_ms);

 private:
  std::string path_;
  uint64_t max_bytes_;
};

}  // namespace driftwatch
