// The "sqlite" storage backend, the zero-config default: SOCI over one SQLite file in WAL mode.
//
// Durability: WAL with synchronous=NORMAL. A committed write survives the process being killed at
// any moment (SIGKILL included); only an operating-system crash or a power cut can lose the last
// commits. The host commits every storage.commit_interval_ms (50 ms by default), so a hard kill
// loses at most what was accepted during the last commit interval.
//
// Threads: the host writes and purges from one thread, through the write session. Reads use a
// second, read-only session, so they run while a write is in progress (WAL readers do not wait for
// the writer). Reads go in pages: a page is read under the read lock and handed to the callback
// without it, so a slow or re-entrant callback never keeps a transaction open. The open blocks
// (below) are in memory: readers copy them under open_mutex_, which a commit holds while it
// applies its changes to them.
//
// Samples are stored as blocks (schema.sql, sample_block.h). Each service's newest block is filled
// in memory (its "open block") across commits; a commit appends its samples to telemetry_log as
// one row, and writes to telemetry_blocks only the blocks that became full. So a commit writes a
// few pages at the end of the file rather than one page per service it carries, whose cost grew
// with the number of services. Opening a file after a crash rebuilds the open blocks from
// telemetry_log and writes them out; a clean close writes them out too.
//
// Sample tags (plugin.h): a sample that also belongs to a second series (the host's endpoint
// series) is stored once, in its service's blocks, with that series' key and seq beside it. The
// series' scans read its own blocks, then its service's from the place its snapshot records
// (services.tag_position); retention keeps a tagged sample until the series' snapshot reflects it
// too. Keys are never given twice, so the tags of a forgotten series belong to no other.
//
// This file is the store: opening and closing, writes, scans, stats, the locks and the plugin's
// entry points. Beside it: store_statements (the prepared statements), open_blocks (the open
// blocks and their staging), log_recovery (rebuilding them at open), retention (the purge steps),
// sample_block (the block and log row formats), sqlite_schema (refusing, creating or migrating a
// file) and sqlite_statement (SQLite's own API, for the blocks).
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "address_groups.h"
#include "log_recovery.h"
#include "open_blocks.h"
#include "retention.h"
#include "sample_block.h"
#include "service_keys.h"
#include "sqlite_schema.h"
#include "sqlite_statement.h"
#include "store_statements.h"

namespace driftwatch::sqlite_plugin {
namespace {

using sdk::StorageError;
using soci::into;

constexpr long long kServicesPerPage = 64;  // with their snapshots, so kept small
constexpr long long kSamplesPerPage = 1024;
constexpr long long kEventsPerPage = 256;

const char* Text(const char* text) { return text == nullptr ? "" : text; }

// Makes room in `map` for `more` elements, growing it only: reserve() may also shrink a table, and
// the next insert would then rehash every element again (at each write that adds a service).
template <typename Map>
void MakeRoom(Map& map, size_t more) {
  const size_t wanted = map.size() + more;
  if (static_cast<double>(wanted) >=
      static_cast<double>(map.bucket_count()) * map.max_load_factor()) {
    map.reserve(wanted);
  }
}

const char* ServiceId(const char* service_id) {
  if (service_id == nullptr || *service_id == '\0') {
    throw StorageError(DW_STATUS_INVALID_ARGUMENT, "a write names no service_id");
  }
  return service_id;
}

std::string ReadBlob(soci::blob& blob) {
  std::string bytes(blob.get_len(), '\0');
  if (!bytes.empty()) blob.read(0, bytes.data(), bytes.size());
  return bytes;
}

// A write's changes to a series' record other than its own rows' highest seq, applied to the
// record once the write has committed (SqliteStore::CommitAndApply).
struct SeriesStage {
  ServiceRecord* record = nullptr;
  long long max_seq = 0;  // its highest seq, with this write's tags
  SeriesTags tags;
  long long wanted_seq = -1;      // the last seq of its snapshot in this write (-1: none)
  long long wanted_position = 0;  // where that seq's tag is, when this write has it (0: not)
  // A tagged series' id, when it is not yet in its service's TaggedSeries: listed at the commit.
  const char* id_to_list = nullptr;
};

class SqliteStore {
 public:
  static constexpr const char* kName = "sqlite";
  static constexpr const char* kVersion = "1.3.0";
  static constexpr uint32_t kFeatures = DW_STORAGE_FEATURE_SAMPLE_TAGS;

  static SqliteStore* Open(sdk::Params& params) {
    const std::string path = params.String("path", "");
    params.Finish();
    if (path.empty()) {
      throw sdk::ParamError(-1, "path: required (the database file, e.g. driftwatch.db)");
    }
    CheckExistingFile(path);  // read-only: a file we refuse is left as it was
    try {
      return new SqliteStore(path);
    } catch (const soci::soci_error& e) {
      throw Translate(e, "cannot open '" + path + "'");
    }
  }

  void Write(const dw_type_write_batch& batch) {
    std::lock_guard<std::mutex> lock(write_mutex_);
    WriteStatements& w = *write_;
    ServiceKeys created;  // cached only once committed
    StartStaging();
    try {
      Transaction transaction(write_session_);
      WriteSamples(batch, created);
      for (size_t i = 0; i < batch.event_count; ++i) {
        const dw_type_stored_event& event = batch.events[i];
        w.event_key = KeyOf(event.service_id, created);
        w.event_seq = static_cast<long long>(event.seq);
        w.event_timestamp = event.timestamp_ms;
        w.event_from = Text(event.from_state);
        w.event_to = Text(event.to_state);
        w.event_reason = Text(event.reason);
        w.event_metadata = Text(event.metadata_json);
        w.insert_event.execute(true);
      }
      for (size_t i = 0; i < batch.snapshot_count; ++i) {
        const dw_type_stored_snapshot& snapshot = batch.snapshots[i];
        SeriesStage& series = StageOf(RecordOf(snapshot.service_id, created));
        w.snapshot_key = series.record->key;
        w.snapshot_seq = static_cast<long long>(snapshot.last_seq);
        if (series.tags.tagged_in != 0) {
          series.tags.tag_position = TagPosition(series, w.snapshot_seq);
          w.set_tag_position.Bind(1, series.tags.tag_position).Bind(2, w.snapshot_key).Execute();
        }
        series.tags.snapshot_seq = w.snapshot_seq;
        w.snapshot_data.trim(0);
        if (snapshot.size > 0) {
          w.snapshot_data.write(0, reinterpret_cast<const char*>(snapshot.data), snapshot.size);
        }
        w.snapshot_flag = snapshot.size > 0 ? soci::i_ok : soci::i_null;  // NULL: empty
        w.upsert_snapshot.execute(true);
      }
      WriteNotifications(batch, created);
      CommitAndApply(transaction, &created);
    } catch (const soci::soci_error& e) {
      throw Translate(e, "write failed");
    }
    sample_count_ += batch.sample_count;
    event_count_ += batch.event_count;
  }

  // A clean close writes the open blocks out, leaving telemetry_log empty. Should that fail, the
  // log still has their samples: the next open moves them.
  ~SqliteStore() {
    try {
      WriteOutAll();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sqlite: '%s': open blocks left in telemetry_log at close: %s\n",
                   path_.c_str(), e.what());
    }
  }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void ScanServices(dw_type_service_callback callback, void* context) {
    struct Row {
      long long key;
      std::string service_id;
      bool has_snapshot;
      long long last_seq;
      std::string data;
      long long max_seq;
    };
    long long after_key = 0;
    for (;;) {
      std::vector<Row> page;
      {
        std::lock_guard<std::mutex> lock(read_mutex_);
        ReadStatements& r = *read_;
        r.after_key = after_key;
        r.limit = kServicesPerPage;
        Read("service scan", [&] {
          ForEachRow(r.services_page, [&] {
            const bool has_snapshot = r.row_last_seq_flag == soci::i_ok;
            const bool has_data = has_snapshot && r.snapshot_flag == soci::i_ok;
            page.push_back({r.row_key, r.row_service_id, has_snapshot,
                            has_snapshot ? r.row_last_seq : 0,
                            has_data ? ReadBlob(r.snapshot_data) : std::string(),
                            r.row_max_seq_flag == soci::i_ok ? r.row_max_seq : 0});
          });
        });
      }
      {
        std::lock_guard<std::mutex> lock(open_mutex_);  // samples in open blocks count too
        for (Row& row : page) {
          const auto record = services_by_key_.find(row.key);
          if (record != services_by_key_.end()) {
            row.max_seq = std::max(row.max_seq, record->second->max_seq);
          }
        }
      }
      for (const Row& row : page) {
        const dw_type_stored_snapshot snapshot = {
            row.service_id.c_str(), static_cast<uint64_t>(row.last_seq),
            reinterpret_cast<const uint8_t*>(row.data.data()), row.data.size()};
        if (callback(context, row.service_id.c_str(), row.has_snapshot ? &snapshot : nullptr,
                     static_cast<uint64_t>(row.max_seq)) != 0) {
          return;
        }
      }
      if (static_cast<long long>(page.size()) < kServicesPerPage) return;
      after_key = page.back().key;
    }
  }

  // A series' own rows, then its tags in its service's samples (rows first: schema.sql).
  void ScanSamples(const char* service_id, uint64_t after_seq, dw_type_sample_callback callback,
                   void* context) {
    const std::string id = ServiceId(service_id);
    if (ScanRows(id, after_seq, callback, context)) ScanTags(id, after_seq, callback, context);
  }

  // The series' own rows after after_seq, which becomes the last seq given. False when the
  // callback stopped the scan.
  bool ScanRows(const std::string& id, uint64_t& after_seq, dw_type_sample_callback callback,
                void* context) {
    // The open block first: should a write move it into telemetry_blocks meanwhile, the blocks
    // read below stop where it starts.
    const std::vector<BlockSample> open = OpenSamples(id);
    const uint64_t open_first = open.empty() ? UINT64_MAX : open.front().seq;
    std::vector<dw_type_stored_sample> page;
    for (;;) {
      page.clear();
      bool more = false;  // the page stopped before the last block
      {
        std::lock_guard<std::mutex> lock(read_mutex_);
        ReadStatements& r = *read_;
        Read("sample scan", [&] {
          // seqs above INT64_MAX are never stored
          r.sample_blocks.Bind(1, id).Bind(
              2, static_cast<long long>(std::min<uint64_t>(after_seq, LLONG_MAX)));
          r.sample_blocks.ForEach([&] {
            DecodeRow(r.sample_blocks, id.c_str(), 0, &r.decoded);
            for (const BlockSample& sample : r.decoded) {
              if (sample.seq >= open_first) return false;
              if (sample.seq <= after_seq) continue;  // the first block may start earlier
              page.push_back({id.c_str(), sample.seq, sample.timestamp_ms, sample.latency_ms,
                              sample.payload_kb});
            }
            more = static_cast<long long>(page.size()) >= kSamplesPerPage;
            return !more;
          });
        });
      }
      for (const dw_type_stored_sample& sample : page) {
        if (callback(context, &sample) != 0) return false;
      }
      if (!page.empty()) after_seq = page.back().seq;
      if (!more) break;  // after a full page, after_seq is a whole block's last seq
    }
    for (const BlockSample& sample : open) {
      if (sample.seq <= after_seq) continue;
      const dw_type_stored_sample stored = {id.c_str(), sample.seq, sample.timestamp_ms,
                                            sample.latency_ms, sample.payload_kb};
      if (callback(context, &stored) != 0) return false;
      after_seq = sample.seq;
    }
    return true;
  }

  // A tagged series' samples after after_seq that are tags in its service's samples: read from
  // the place its snapshot's tag has there when that is not after after_seq, else from the first.
  void ScanTags(const std::string& id, uint64_t after_seq, dw_type_sample_callback callback,
                void* context) {
    long long series_key = 0;
    long long service_key = 0;
    long long from = 0;
    {
      std::lock_guard<std::mutex> lock(open_mutex_);
      const auto found = keys_.find(id);
      if (found == keys_.end()) return;
      const ServiceRecord& series = found->second;
      if (series.tags.tagged_in == 0 || after_seq >= static_cast<uint64_t>(series.max_seq)) return;
      series_key = series.key;
      service_key = series.tags.tagged_in;
      if (series.tags.snapshot_seq > 0 &&
          static_cast<uint64_t>(series.tags.snapshot_seq) <= after_seq) {
        from = series.tags.tag_position;
      }
    }
    const std::vector<BlockSample> open = OpenSamplesOf(service_key, id);
    const uint64_t open_first = open.empty() ? UINT64_MAX : open.front().seq;
    std::vector<dw_type_stored_sample> page;
    for (;;) {
      page.clear();
      bool more = false;
      {
        std::lock_guard<std::mutex> lock(read_mutex_);
        ReadStatements& r = *read_;
        Read("sample scan", [&] {
          r.blocks_from.Bind(1, service_key).Bind(2, from);
          r.blocks_from.ForEach([&] {
            DecodeRow(r.blocks_from, nullptr, service_key, &r.decoded);
            for (const BlockSample& sample : r.decoded) {
              if (sample.seq >= open_first) return false;
              if (sample.tag_key == series_key && sample.tag_seq > after_seq) {
                page.push_back({id.c_str(), sample.tag_seq, sample.timestamp_ms, sample.latency_ms,
                                sample.payload_kb});
              }
            }
            from = r.blocks_from.Int(0) + 1;
            more = static_cast<long long>(page.size()) >= kSamplesPerPage;
            return !more;
          });
        });
      }
      for (const dw_type_stored_sample& sample : page) {
        if (callback(context, &sample) != 0) return;
      }
      if (!page.empty()) after_seq = page.back().seq;
      if (!more) break;
    }
    for (const BlockSample& sample : open) {
      if (sample.tag_key != series_key || sample.tag_seq <= after_seq) continue;
      const dw_type_stored_sample stored = {id.c_str(), sample.tag_seq, sample.timestamp_ms,
                                            sample.latency_ms, sample.payload_kb};
      if (callback(context, &stored) != 0) return;
    }
  }

  void QueryEvents(const char* service_id, uint32_t limit, dw_type_event_callback callback,
                   void* context) {
    struct Row {
      long long id;
      long long seq;
      long long timestamp_ms;
      std::string from_state, to_state, reason, metadata_json;
    };
    const std::string service = ServiceId(service_id);
    long long before_id = std::numeric_limits<long long>::max();
    uint32_t remaining = limit;
    while (remaining > 0) {
      std::vector<Row> page;
      const long long page_limit = std::min<long long>(remaining, kEventsPerPage);
      {
        std::lock_guard<std::mutex> lock(read_mutex_);
        ReadStatements& r = *read_;
        r.service_id = service;
        r.before_id = before_id;
        r.limit = page_limit;
        Read("event query", [&] {
          ForEachRow(r.events_page, [&] {
            page.push_back({r.row_key, r.row_seq, r.row_timestamp, r.row_from, r.row_to,
                            r.row_reason, r.row_metadata});
          });
        });
      }
      for (const Row& row : page) {
        const dw_type_stored_event event = {
            service.c_str(),          static_cast<uint64_t>(row.seq), row.timestamp_ms,
            row.from_state.c_str(),   row.to_state.c_str(),           row.reason.c_str(),
            row.metadata_json.c_str()};
        if (callback(context, &event) != 0) return;
      }
      if (static_cast<long long>(page.size()) < page_limit) return;
      remaining -= static_cast<uint32_t>(page.size());
      before_id = page.back().id;
    }
  }

  void Stats(dw_type_storage_stats& stats) {
    long long pages = 0;
    long long page_bytes = 0;
    {
      std::lock_guard<std::mutex> lock(read_mutex_);
      Read("stats", [&] {
        ForEachRow(read_->page_count, [&] { pages = read_->row_seq; });
        ForEachRow(read_->page_size, [&] { page_bytes = read_->row_key; });
      });
    }
    std::error_code error;
    const auto wal_bytes = std::filesystem::file_size(path_ + "-wal", error);
    stats.sample_count = sample_count_.load();
    stats.event_count = event_count_.load();
    stats.size_bytes = static_cast<uint64_t>(pages * page_bytes) + (error ? 0 : wal_bytes);
  }

  // Deletes every row of the service in one transaction. Every open block is written out first,
  // which leaves telemetry_log empty: no log row can then name the service's key, which a
  // recovery after a crash would otherwise bring back (and which a new service may reuse).
  // Forgetting is rare (an operator decommissions a service), so the cost of writing out other
  // services' partial blocks does not matter.
  void Forget(const char* service_id) {
    const std::string id = ServiceId(service_id);
    std::lock_guard<std::mutex> lock(write_mutex_);
    const auto known = keys_.find(id);
    if (known == keys_.end()) return;  // unknown: nothing to forget
    const long long key = known->second.key;
    long long samples = 0;
    long long events = 0;
    StartStaging();
    try {
      Transaction transaction(write_session_);
      open_blocks_->WriteOutAll();
      open_blocks_->TrimLog(next_log_id_);
      write_session_ << "SELECT coalesce(sum(sample_count), 0) FROM telemetry_blocks "
                        "WHERE service_key = :key",
          soci::use(key), soci::into(samples);
      write_session_ << "SELECT count(*) FROM events WHERE service_key = :key", soci::use(key),
          soci::into(events);
      for (const char* table :
           {"telemetry_blocks", "events", "snapshots", "notifications", "services"}) {
        write_session_ << "DELETE FROM " + std::string(table) + " WHERE service_key = :key",
            soci::use(key);
      }
      CommitAndApply(transaction, nullptr);
    } catch (const soci::soci_error& e) {
      throw Translate(e, "forgetting '" + id + "' failed");
    }
    {
      std::lock_guard<std::mutex> open_lock(open_mutex_);
      // Its record leaves its service's list of tagged series before it goes.
      if (const auto gone = keys_.find(id); gone != keys_.end() && gone->second.listed_as_tagged) {
        const auto service = services_by_key_.find(gone->second.tags.tagged_in);
        if (service != services_by_key_.end() && service->second->tagged_series != nullptr) {
          service->second->tagged_series->Remove(&gone->second);
        }
      }
      services_by_key_.erase(key);
      keys_.erase(id);
    }
    sample_count_ -= static_cast<uint64_t>(samples);
    event_count_ -= static_cast<uint64_t>(events);
  }

  // Deletes the oldest rows first and stops at the first one that is still young: events in the
  // order they were stored; each service's samples in seq order, only those its snapshot already
  // reflects, and never the newest of its blocks (so a restart can always replay, and seqs keep
  // counting).
  // Every lookup goes through a primary key; services are visited from where the last step
  // stopped.
  uint64_t Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows) {
    std::lock_guard<std::mutex> lock(write_mutex_);
    uint64_t events_deleted = 0;
    uint64_t notifications_deleted = 0;
    uint64_t samples_deleted = 0;
    long long cursor = purge_cursor_;
    StartStaging();
    try {
      Transaction transaction(write_session_);
      events_deleted = retention_->PurgeEvents(events_before_ms, max_rows);
      notifications_deleted = PurgeNotifications(events_before_ms, max_rows - events_deleted);
      samples_deleted = retention_->PurgeSamples(
          samples_before_ms, max_rows - events_deleted - notifications_deleted, &cursor);
      open_blocks_->TrimLog(next_log_id_);  // open blocks written out may free rows
      CommitAndApply(transaction, nullptr);
    } catch (const soci::soci_error& e) {
      throw Translate(e, "retention failed");
    }
    purge_cursor_ = cursor;
    sample_count_ -= samples_deleted;
    event_count_ -= events_deleted;
    return events_deleted + notifications_deleted + samples_deleted;
  }

  void ScanNotifications(const char* target, int32_t state, uint32_t limit, bool newest_first,
                         dw_type_notification_callback callback, void* context) {
    struct Row {
      long long outbox_id;
      std::string id, target, service_id, body;
      long long created_ms;
      long long state;
      long long attempts;
      long long updated_ms;
      std::string last_error;
    };
    const std::string wanted_target = Text(target);
    long long cursor = newest_first ? std::numeric_limits<long long>::max() : 0;
    uint64_t remaining = limit == 0 ? UINT64_MAX : limit;
    while (remaining > 0) {
      const long long page_limit =
          static_cast<long long>(std::min<uint64_t>(remaining, kEventsPerPage));
      std::vector<Row> page;
      {
        std::lock_guard<std::mutex> lock(read_mutex_);
        Statement& scan =
            newest_first ? read_->notifications_backward : read_->notifications_forward;
        Read("notification scan", [&] {
          scan.Bind(1, cursor).Bind(2, wanted_target).Bind(3, state).Bind(4, page_limit);
          scan.ForEach([&] {
            page.push_back({scan.Int(0), scan.Text(1), scan.Text(2), scan.Text(3), scan.Text(4),
                            scan.Int(5), scan.Int(6), scan.Int(7), scan.Int(8), scan.Text(9)});
            return true;
          });
        });
      }
      for (const Row& row : page) {
        const dw_type_notification notification = {row.id.c_str(),
                                                   row.target.c_str(),
                                                   row.service_id.c_str(),
                                                   row.body.c_str(),
                                                   row.created_ms,
                                                   static_cast<int32_t>(row.state),
                                                   static_cast<uint32_t>(row.attempts),
                                                   row.updated_ms,
                                                   row.last_error.c_str()};
        if (callback(context, &notification) != 0) return;
      }
      if (static_cast<long long>(page.size()) < page_limit) return;
      remaining -= page.size();
      cursor = page.back().outbox_id;
    }
  }

 private:
  explicit SqliteStore(const std::string& path)
      : path_(path),
        ownership_(path),
        write_session_(*soci::factory_sqlite3(), ConnectString(path, false)) {
    std::string journal_mode;
    write_session_ << "PRAGMA journal_mode = WAL", into(journal_mode);
    if (journal_mode != "wal") {
      throw StorageError(DW_STATUS_IO_ERROR,
                         "cannot use WAL mode for '" + path + "' (got '" + journal_mode + "')");
    }
    write_session_ << "PRAGMA synchronous = NORMAL";  // see the top of this file
    // Blocks are clustered by service, so the blocks a commit writes out touch one leaf page per
    // service: a 32 MiB page cache keeps those pages in memory instead of re-reading them.
    write_session_ << "PRAGMA cache_size = -32768";
    PrepareSchema(write_session_, path);

    long long key = 0;
    std::string service_id;
    long long tagged_in = 0;
    soci::indicator tagged_flag = soci::i_null;
    long long position = 0;
    soci::indicator position_flag = soci::i_null;
    soci::statement services =
        (write_session_.prepare << "SELECT service_key, service_id, tagged_in, tag_position "
                                   "FROM services",
         into(key), into(service_id), into(tagged_in, tagged_flag), into(position, position_flag));
    ForEachRow(services, [&] {
      ServiceRecord record;
      record.key = key;
      if (tagged_flag == soci::i_ok) record.tags.tagged_in = tagged_in;
      if (position_flag == soci::i_ok) record.tags.tag_position = position;
      keys_.emplace(service_id, std::move(record));
    });
    for (auto& [id, record] : keys_) services_by_key_.emplace(record.key, &record);
    long long snapshot_seq = 0;
    soci::statement snapshots =
        (write_session_.prepare << "SELECT service_key, last_seq FROM snapshots", into(key),
         into(snapshot_seq));
    ForEachRow(snapshots, [&] {
      if (const auto record = services_by_key_.find(key); record != services_by_key_.end()) {
        record->second->tags.snapshot_seq = snapshot_seq;
      }
    });
    // Once, at open; then kept up to date by every commit. Reads no BLOB: sample_count and the key
    // are in the rows' leading bytes.
    long long max_seq = 0;
    long long samples = 0;
    uint64_t total = 0;
    soci::statement blocks = (write_session_.prepare << "SELECT service_key, MAX(last_seq), "
                                                        "SUM(sample_count) FROM telemetry_blocks "
                                                        "GROUP BY service_key",
                              into(key), into(max_seq), into(samples));
    ForEachRow(blocks, [&] {
      // A block whose key is in no row of services (never left so by the store: a damaged or
      // edited file) is left as it is, unknown to the writer: a service given that key later
      // would find it among its own, as it would any other row the file holds for the key.
      if (const auto record = services_by_key_.find(key); record != services_by_key_.end()) {
        record->second->max_seq = max_seq;
      }
      total += static_cast<uint64_t>(samples);
    });
    long long count = 0;
    write_session_ << "SELECT count(*) FROM events", into(count);
    event_count_ = static_cast<uint64_t>(count);

    write_ = std::make_unique<WriteStatements>(write_session_);
    FindTags();
    open_blocks_ = std::make_unique<OpenBlocks>(write_->insert_block, write_->delete_log);
    retention_ = std::make_unique<Retention>(*write_, *open_blocks_, services_by_key_);
    sample_count_ =
        total + RecoverLog(path_, write_session_, *write_, services_by_key_, *open_blocks_);
    read_session_ =
        std::make_unique<soci::session>(*soci::factory_sqlite3(), ConnectString(path, true));
    read_ = std::make_unique<ReadStatements>(*read_session_);
  }

  // At open: each tagged series' highest seq and newest tag, from its service's blocks from the
  // earliest place its series' snapshots have there (no newer tag can be before it); the tags in
  // telemetry_log are RecoverLog's. A series whose newest tags retention took keeps its
  // snapshot's seq as its highest.
  void FindTags() {
    std::unordered_map<long long, long long> scan_from;  // service key -> from its seq
    for (const auto& [key, record] : services_by_key_) {
      if (record->tags.tagged_in == 0) continue;
      record->max_seq = std::max(record->max_seq, record->tags.snapshot_seq);
      const long long from = record->tags.snapshot_seq > 0 ? record->tags.tag_position : 0;
      const auto [place, added] = scan_from.emplace(record->tags.tagged_in, from);
      if (!added) place->second = std::min(place->second, from);
    }
    std::vector<BlockSample> decoded;
    for (const auto& scan : scan_from) {
      const long long service_key = scan.first;
      write_->blocks_from.Bind(1, service_key).Bind(2, scan.second).ForEach([&] {
        DecodeRow(write_->blocks_from, nullptr, service_key, &decoded);
        for (const BlockSample& sample : decoded) {
          NoteTag(services_by_key_, service_key, static_cast<long long>(sample.seq), sample.tag_key,
                  static_cast<long long>(sample.tag_seq));
        }
        return true;
      });
    }
  }

  template <typename Body>
  void Read(const char* what, Body&& body) {
    try {
      body();
    } catch (const soci::soci_error& e) {
      throw Translate(e, std::string(what) + " failed");
    }
  }

  // The record of a service, adding the service (inside the caller's transaction) when it is new:
  // its record is then in `created` until the commit.
  // A series first met as a tag is added with the key of the service it is tagged in (no update
  // of its row follows: a fresh store meets thousands at once).
  ServiceRecord& RecordOf(const char* service_id, ServiceKeys& created, long long tagged_in = 0) {
    const std::string_view id = ServiceId(service_id);
    const auto known = keys_.find(id);
    if (known != keys_.end()) return known->second;
    // A service new in this batch (a map: a fresh store may see thousands in its first batch).
    if (const auto fresh = created.find(id); fresh != created.end()) return fresh->second;
    write_->service_id = id;
    write_->service_tagged_in = tagged_in;
    write_->service_tagged_in_flag = tagged_in != 0 ? soci::i_ok : soci::i_null;
    write_->insert_service.execute(true);
    long long key = 0;
    if (!write_session_.get_last_insert_id("services", key)) {
      throw StorageError(DW_STATUS_IO_ERROR, "no key for new service '" + std::string(id) + "'");
    }
    ServiceRecord& record = created[std::string(id)];
    record.key = key;
    record.tags.tagged_in = tagged_in;
    return record;
  }

  long long KeyOf(const char* service_id, ServiceKeys& created) {
    return RecordOf(service_id, created).key;
  }

  // Sets group_records_ to the records of the batch's services, in order of first appearance, and
  // order_ to the batch's sample indexes grouped by service, each group in batch order, ending at
  // group_ends_. A service's samples share one id string in a batch, so each string's record is
  // looked up once, by the string's address in a table of the write's own (a service's records
  // are scattered: with thousands of them, every look-up in a map of them is a cache miss).
  // Services interleave (a service and its endpoint series, docs/behaviour.md), so the samples are
  // grouped by a counting sort (a comparison sort took a tenth of the writer's time).
  void GroupByKey(const dw_type_write_batch& batch, ServiceKeys& created) {
    const uint64_t write = ++writes_;
    group_records_.clear();
    group_of_sample_.resize(batch.sample_count);
    group_of_id_.Clear();
    for (size_t i = 0; i < batch.sample_count; ++i) {
      const char* id = batch.samples[i].service_id;
      if (const size_t* group = group_of_id_.Find(id)) {
        group_of_sample_[i] = *group;
        continue;
      }
      ServiceRecord& record = RecordOf(id, created);  // throws for a null id
      // A record already grouped in this write was reached through another string of its id.
      if (record.grouped_in != write) {
        record.grouped_in = write;
        record.group = group_records_.size();
        group_records_.push_back(&record);
      }
      group_of_id_.Add(id, record.group);
      group_of_sample_[i] = record.group;
    }
    group_ends_.assign(group_records_.size(), 0);
    for (const size_t group : group_of_sample_) ++group_ends_[group];
    size_t begin = 0;  // group_ends_ becomes each group's first position, then its end
    for (size_t& end : group_ends_) begin += std::exchange(end, begin);
    order_.resize(batch.sample_count);
    for (size_t i = 0; i < batch.sample_count; ++i) order_[group_ends_[group_of_sample_[i]]++] = i;
  }

  // Appends the batch's samples, by service, each service's in batch order, to the services'
  // open blocks (writing out those that fill up) and to one new telemetry_log row. A service's seqs
  // must rise above its highest stored seq: a block's primary key is its last seq, so an older seq
  // written again would not collide with the block holding it. Stages the open blocks and sets
  // batch_max_seqs_ and batch_log_id_, for the caller to apply once committed.
  void WriteSamples(const dw_type_write_batch& batch, ServiceKeys& created) {
    log_.Clear();
    GroupByKey(batch, created);
    // The series whose snapshots this write stores, and their snapshots' seqs, before the
    // samples: a snapshot's tag, when it is in this write, says where its series' samples start.
    for (size_t i = 0; i < batch.snapshot_count; ++i) {
      StageOf(RecordOf(batch.snapshots[i].service_id, created)).wanted_seq =
          static_cast<long long>(batch.snapshots[i].last_seq);
    }
    // ABI 1.3, as this plugin: a host old enough to lack the member does not load it.
    const dw_type_sample_tag* tags = batch.sample_tags;
    tag_stages_.Clear();
    const long long log_id = next_log_id_;
    size_t next = 0;
    for (size_t group = 0; group < group_records_.size(); ++group) {
      ServiceRecord& record = *group_records_[group];
      const long long key = record.key;
      long long previous = record.max_seq;
      StagedBlock& open = open_blocks_->Stage(key);
      for (; next < group_ends_[group]; ++next) {
        const dw_type_stored_sample& sample = batch.samples[order_[next]];
        if (sample.seq <= static_cast<uint64_t>(previous) || sample.seq > LLONG_MAX) {
          throw StorageError(DW_STATUS_INVALID_ARGUMENT,
                             "sample " + std::to_string(sample.seq) + " of '" + sample.service_id +
                                 "' does not follow seq " + std::to_string(previous) +
                                 " (stored, or earlier in the batch): a service's seqs must "
                                 "increase");
        }
        previous = static_cast<long long>(sample.seq);
        long long tag_key = 0;
        long long tag_seq = 0;
        if (tags != nullptr && tags[order_[next]].series_id != nullptr) {
          SeriesStage& tagged = StageTag(tags[order_[next]], record, created);
          tag_key = tagged.record->key;
          tag_seq = tagged.max_seq;
          tagged.tags.newest_tag_position = previous;
          if (tagged.wanted_seq == tag_seq) tagged.wanted_position = previous;
        }
        open_blocks_->Append(open, log_id, previous, sample.timestamp_ms, sample.latency_ms,
                             sample.payload_kb, tag_key, tag_seq);
        log_.Add(key, previous, sample.timestamp_ms, sample.latency_ms, sample.payload_kb, tag_key,
                 static_cast<uint64_t>(tag_seq));
      }
      batch_max_seqs_.emplace_back(&record, previous);
    }
    if (log_.empty()) return;
    const std::vector<uint8_t>& data = log_.Finish();
    write_->insert_log.Bind(1, log_id).BindBlob(2, data.data(), data.size()).Execute();
    batch_log_id_ = log_id;
    // Open blocks that waited long enough are written out, full or not.
    open_blocks_->WriteOutAged(log_id);
    open_blocks_->TrimLog(log_id + 1);
  }

  // The series' staging in this write, made on first use from its committed record.
  SeriesStage& StageOf(ServiceRecord& record) {
    if (record.staged_in != writes_) {
      record.staged_in = writes_;
      record.stage = stages_.size();
      SeriesStage& series = stages_.emplace_back();
      series.record = &record;
      series.max_seq = record.max_seq;
      series.tags = record.tags;
    }
    return stages_[record.stage];
  }

  // Stages one sample's tag, found by the address of its series' id (as GroupByKey finds
  // services), and checks it: a series' seqs rise, and all its tags are in one service's samples.
  SeriesStage& StageTag(const dw_type_sample_tag& tag, const ServiceRecord& service,
                        ServiceKeys& created) {
    const size_t* known = tag_stages_.Find(tag.series_id);
    SeriesStage* staged = known != nullptr ? &stages_[*known] : nullptr;
    if (staged == nullptr) {
      ServiceRecord* listed = service.tagged_series != nullptr
                                  ? service.tagged_series->Find(ServiceId(tag.series_id))
                                  : nullptr;
      staged =
          &StageOf(listed != nullptr ? *listed : RecordOf(tag.series_id, created, service.key));
      if (!staged->record->listed_as_tagged) staged->id_to_list = tag.series_id;
      tag_stages_.Add(tag.series_id, staged->record->stage);
    }
    SeriesStage& series = *staged;
    const std::string_view id = tag.series_id;
    if (series.record == &service) {
      throw StorageError(DW_STATUS_INVALID_ARGUMENT,
                         "a sample of '" + std::string(id) + "' is tagged with its own service");
    }
    if (series.tags.tagged_in != service.key) {
      if (series.tags.tagged_in != 0) {
        throw StorageError(DW_STATUS_INVALID_ARGUMENT,
                           "the tags of '" + std::string(id) +
                               "' are in another service's samples: a series' tags are all in "
                               "one service's");
      }
      series.tags.tagged_in = service.key;
      write_->set_tagged_in.Bind(1, service.key).Bind(2, series.record->key).Execute();
    }
    if (tag.seq <= static_cast<uint64_t>(series.max_seq) || tag.seq > LLONG_MAX) {
      throw StorageError(DW_STATUS_INVALID_ARGUMENT,
                         "tag " + std::to_string(tag.seq) + " of '" + std::string(id) +
                             "' does not follow seq " + std::to_string(series.max_seq) +
                             ": a series' seqs must increase");
    }
    series.max_seq = static_cast<long long>(tag.seq);
    series.tags.newest_tag_seq = series.max_seq;
    return series;
  }

  // Where, among its service's seqs, a scan for the samples of a tagged series after its snapshot
  // at `last_seq` starts: that tag's place when this write or the last has it, else the previous
  // snapshot's place, which is before it.
  static long long TagPosition(const SeriesStage& series, long long last_seq) {
    if (series.tags.tagged_in == 0) return 0;
    if (series.wanted_seq == last_seq && series.wanted_position > 0) {
      return series.wanted_position;
    }
    if (last_seq == series.tags.newest_tag_seq) return series.tags.newest_tag_position;
    return series.tags.snapshot_seq <= last_seq ? series.tags.tag_position : 0;
  }

  // The batch's new outbox rows (a row already stored is the same notification: skipped), then
  // its updates of stored rows, inside the caller's transaction.
  void WriteNotifications(const dw_type_write_batch& batch, ServiceKeys& created) {
    for (size_t i = 0; i < batch.notification_count; ++i) {
      const dw_type_notification& row = batch.notifications[i];
      const std::string id = Text(row.id);
      const std::string target = Text(row.target);
      const std::string body = Text(row.body);
      const std::string last_error = Text(row.last_error);
      write_->insert_notification.Bind(1, id)
          .Bind(2, target)
          .Bind(3, KeyOf(row.service_id, created))
          .Bind(4, body)
          .Bind(5, row.created_ms)
          .Bind(6, row.state)
          .Bind(7, row.attempts)
          .Bind(8, row.updated_ms)
          .Bind(9, last_error)
          .Execute();
    }
    for (size_t i = 0; i < batch.notification_update_count; ++i) {
      const dw_type_notification& row = batch.notification_updates[i];
      const std::string id = Text(row.id);
      const std::string target = Text(row.target);
      const std::string last_error = Text(row.last_error);
      write_->update_notification.Bind(1, id)
          .Bind(2, target)
          .Bind(3, row.state)
          .Bind(4, row.attempts)
          .Bind(5, row.updated_ms)
          .Bind(6, last_error)
          .Execute();
    }
  }

  // Delivered and failed outbox rows last changed before `before_ms`, oldest first; pending ones
  // stay whatever their age (the sender gives up on them, and then they go).
  uint64_t PurgeNotifications(int64_t before_ms, uint64_t max_rows) {
    if (max_rows == 0) return 0;
    long long limit = static_cast<long long>(std::min<uint64_t>(max_rows, LLONG_MAX));
    long long before = before_ms;
    write_session_ << "DELETE FROM notifications WHERE outbox_id IN (SELECT outbox_id FROM "
                      "notifications WHERE state != 1 AND updated_ms < :before "
                      "ORDER BY outbox_id LIMIT :limit)",
        soci::use(before), soci::use(limit);
    long long deleted = 0;
    write_session_ << "SELECT changes()", into(deleted);
    return static_cast<uint64_t>(deleted);
  }

  // Stages the open blocks (see OpenBlocks) and this write's own changes, for CommitAndApply.
  void StartStaging() {
    open_blocks_->StartStaging();
    batch_max_seqs_.clear();
    stages_.clear();
    batch_log_id_ = 0;
  }

  // Commits, and makes what was staged take effect at the same moment for readers, who look at
  // it under open_mutex_: they never see the committed rows without it (a snapshot ahead of the
  // samples, say).
  void CommitAndApply(Transaction& transaction, ServiceKeys* created) {
    std::lock_guard<std::mutex> lock(open_mutex_);
    // The new records' places are made first: once committed, nothing may fail to allocate and
    // leave a committed service out of the maps (or one map pointing at a record not kept).
    ServicesByKey created_by_key;
    if (created != nullptr) {
      for (auto& [id, record] : *created) created_by_key.emplace(record.key, &record);
      MakeRoom(keys_, created->size());
      MakeRoom(services_by_key_, created->size());
    }
    transaction.Commit();
    if (created != nullptr) {  // merging moves the nodes: the records stay where they are
      keys_.merge(*created);
      services_by_key_.merge(created_by_key);
    }
    for (const auto& [record, max_seq] : batch_max_seqs_) record->max_seq = max_seq;
    for (const SeriesStage& series : stages_) {
      ServiceRecord& record = *series.record;
      record.max_seq = std::max(record.max_seq, series.max_seq);
      record.tags = series.tags;
      if (series.id_to_list != nullptr) ListAsTagged(record, series.id_to_list);
    }
    if (batch_log_id_ != 0) next_log_id_ = batch_log_id_ + 1;
    open_blocks_->Apply();
  }

  // Adds a committed tagged series to its service's TaggedSeries. Only a cache, which a failure
  // to allocate leaves as it was (the series is then found by its id).
  void ListAsTagged(ServiceRecord& record, std::string_view id) {
    const auto service = services_by_key_.find(record.tags.tagged_in);
    if (service == services_by_key_.end()) return;
    try {
      std::unique_ptr<TaggedSeries>& list = service->second->tagged_series;
      if (list == nullptr) list = std::make_unique<TaggedSeries>();
      list->Add(id, &record);
      record.listed_as_tagged = true;
    } catch (const std::bad_alloc&) {  // NOLINT(bugprone-empty-catch): see above
    }
  }

  void WriteOutAll() {
    std::lock_guard<std::mutex> lock(write_mutex_);
    if (open_blocks_->empty() && open_blocks_->log_floor() >= next_log_id_) return;
    StartStaging();
    try {
      Transaction transaction(write_session_);
      open_blocks_->WriteOutAll();
      open_blocks_->TrimLog(next_log_id_);
      CommitAndApply(transaction, nullptr);
    } catch (const soci::soci_error& e) {
      throw Translate(e, "writing out the open blocks failed");
    }
  }

  // The samples of the service's open block (none if it has none), copied under open_mutex_.
  std::vector<BlockSample> OpenSamples(const std::string& service_id) {
    long long key = 0;
    {
      std::lock_guard<std::mutex> lock(open_mutex_);
      const auto found = keys_.find(service_id);
      if (found == keys_.end()) return {};
      key = found->second.key;
    }
    return OpenSamplesOf(key, service_id);
  }

  // The same by the service's key (`name` for a message).
  std::vector<BlockSample> OpenSamplesOf(long long key, const std::string& name) {
    std::vector<uint8_t> data;
    long long last_seq = 0;
    long long count = 0;
    {
      std::lock_guard<std::mutex> lock(open_mutex_);
      const OpenBlock* open = open_blocks_->Committed(key);
      if (open == nullptr) return {};
      data = open->encoder.FinishedCopy();
      last_seq = open->last_seq;
      count = open->encoder.count();
    }
    std::vector<BlockSample> samples;
    if (DecodeBlock(data.data(), data.size(), last_seq, count, &samples) != nullptr) {
      throw StorageError(DW_STATUS_ERROR, "the open block of '" + name + "' is damaged");
    }
    return samples;
  }

  const std::string path_;
  FileOwnership ownership_;  // declared first of the file's users, so released after them all
  std::mutex write_mutex_;   // the write session and everything below it
  soci::session write_session_;
  std::unique_ptr<WriteStatements> write_;
  // Every stored service's record, by id and by key (also read by readers, under open_mutex_):
  // committed ones only.
  ServiceKeys keys_;
  ServicesByKey services_by_key_;
  // Each service's open block (see OpenBlocks); changed under both mutexes.
  std::mutex open_mutex_;
  std::unique_ptr<OpenBlocks> open_blocks_;  // made with write_, on its statements
  long long next_log_id_ = 1;                // the log is empty once the store is open
  long long batch_log_id_ = 0;               // the row this write adds to telemetry_log (0: none)
  LogRowEncoder log_;
  std::unique_ptr<Retention> retention_;  // made with write_, on its statements
  long long purge_cursor_ = 0;            // the service key retention goes on after
  // Scratch space of writes, reused so that a commit allocates little.
  // GroupByKey's: the writes so far, a table of (id string's address, its group) and each group's
  // service.
  uint64_t writes_ = 0;
  AddressGroups group_of_id_;
  std::vector<ServiceRecord*> group_records_;
  std::vector<size_t> group_of_sample_;
  std::vector<size_t> group_ends_;  // order_[group_ends_[g - 1], group_ends_[g]) is group g's
  std::vector<size_t> order_;
  std::vector<std::pair<ServiceRecord*, long long>> batch_max_seqs_;  // (service, its max seq)
  // The series whose tags or snapshot this write stores (StageOf), and its tags' series by the
  // address of their id strings (StageTag).
  std::vector<SeriesStage> stages_;
  AddressGroups tag_stages_;
  std::mutex read_mutex_;  // the read session and its statements
  std::unique_ptr<soci::session> read_session_;
  std::unique_ptr<ReadStatements> read_;
  std::atomic<uint64_t> sample_count_{0};
  std::atomic<uint64_t> event_count_{0};
};

}  // namespace
}  // namespace driftwatch::sqlite_plugin

DRIFTWATCH_PLUGIN("sqlite", "1.3.0", DRIFTWATCH_NO_DETECTORS,
                  DRIFTWATCH_STORAGES(
                      driftwatch::sdk::StorageType<driftwatch::sqlite_plugin::SqliteStore>::Get()));
