// Opening a file after a crash: rebuilding the open blocks from telemetry_log (schema.sql), which
// holds every committed sample not yet in telemetry_blocks, and writing them out.
#pragma once

#include <soci/soci.h>

#include <cstdint>
#include <string>

#include "open_blocks.h"
#include "service_keys.h"
#include "store_statements.h"

namespace driftwatch::sqlite_plugin {

// At open, after a crash: the samples telemetry_log holds that are not in telemetry_blocks yet
// go there, and the log is emptied, in one transaction. Returns how many samples were moved.
// `services` are the store's as read from the file; their max_seq take the recovered seqs, and
// tagged series their recovered tags (NoteTag).
// Throws StorageError (DW_STATUS_CORRUPT) for a row that does not decode or names an unknown
// service, and soci::soci_error when SQLite fails.
uint64_t RecoverLog(const std::string& path, soci::session& session, WriteStatements& statements,
                    const ServicesByKey& services, OpenBlocks& open_blocks);

}  // namespace driftwatch::sqlite_plugin
