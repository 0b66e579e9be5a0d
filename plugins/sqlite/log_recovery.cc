#include "log_recovery.h"

#include <driftwatch/plugin.hpp>

#include <climits>
#include <vector>

#include "sample_block.h"

namespace driftwatch::sqlite_plugin {

using sdk::StorageError;

uint64_t RecoverLog(const std::string& path, soci::session& session, WriteStatements& statements,
                    const ServicesByKey& services, OpenBlocks& open_blocks) {
  uint64_t recovered = 0;
  open_blocks.StartStaging();
  Transaction transaction(session);
  std::vector<LogEntry> entries;
  bool any_row = false;
  const auto corrupt = [&](const std::string& problem) {
    return StorageError(DW_STATUS_CORRUPT, "'" + path + "': telemetry_log row " +
                                               std::to_string(statements.log_rows.Int(0)) +
                                               " is corrupt: " + problem +
                                               "; the file is unchanged");
  };
  statements.log_rows.ForEach([&] {
    any_row = true;
    const char* problem =
        DecodeLogRow(statements.log_rows.Blob(1), statements.log_rows.Bytes(1), &entries);
    if (problem != nullptr) throw corrupt(problem);
    for (const LogEntry& entry : entries) {
      const auto service = services.find(entry.service_key);
      if (service == services.end()) {
        throw corrupt("it names service key " + std::to_string(entry.service_key) +
                      ", which is not in services");
      }
      long long& newest = service->second->max_seq;
      StagedBlock& open = open_blocks.Stage(entry.service_key);
      for (const BlockSample& sample : entry.samples) {
        const auto seq = static_cast<long long>(sample.seq);
        if (seq <= newest) continue;  // written out before the crash
        const auto tag_seq = static_cast<long long>(sample.tag_seq);
        open_blocks.Append(open, 0, seq, sample.timestamp_ms, sample.latency_ms, sample.payload_kb,
                           sample.tag_key, tag_seq);
        NoteTag(services, entry.service_key, seq, sample.tag_key, tag_seq);
        newest = seq;
        ++recovered;
      }
    }
    return true;
  });
  if (!any_row) return 0;  // nothing to write
  open_blocks.WriteOutStaged();
  statements.delete_log.Bind(1, LLONG_MAX).Execute();
  transaction.Commit();
  open_blocks.Apply();  // ends the staging: no open block is left (no reader yet: no lock)
  return recovered;
}

}  // namespace driftwatch::sqlite_plugin
