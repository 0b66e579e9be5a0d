// The "postgresql" storage backend: the sqlite backend's contract kept in a PostgreSQL schema (the
// namespace), through SOCI's PostgreSQL backend; the samples go in by libpq's binary COPY.
//
// Ownership: one running instance owns a namespace through the row of its `lease` table: an epoch
// and an expiry on the server's clock, renewed by a thread of its own every third of
// lease_seconds. Every commit first updates that row where the epoch is still ours, in the same
// transaction: the row lock orders it against a takeover, so an instance frozen past its lease
// (SIGSTOP, a pause, a network cut) whose namespace another took over finds its epoch gone and can
// never write. It then says so on stderr and ends the process (kExitFenced): its state in memory
// is no longer the stored one, and going on would only answer clients for data it cannot keep.
//
// Durability: a commit is a PostgreSQL COMMIT (synchronous_commit as the server sets it: on by
// default), so whatever on_write said was stored survives DriftWatch's or the server's crash.
//
// Threads: the host's writer uses the write session; readers share a second session under
// read_mutex_, reading in pages (each page one statement, so one snapshot of committed data: a
// batch is seen whole); the lease thread has a third. A session whose connection broke is
// reconnected on its next use, at most once per backoff interval (doubling up to kMaxBackoff);
// the host keeps the failed batch and retries it, queueing new samples meanwhile.
#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <unistd.h>
#include <driftwatch/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace driftwatch::postgresql_plugin {
namespace {

using sdk::StorageError;
using soci::into;
using soci::use;
using Clock = std::chrono::steady_clock;

constexpr int kSchemaVersion = 2;
// The process's exit status when another instance took its namespace over (docs/operations.md).
constexpr int kExitFenced = 75;
constexpr long long kServicesPerPage = 64;  // with their snapshots, so kept small
constexpr long long kSamplesPerPage = 1024;
constexpr long long kEventsPerPage = 256;
constexpr long long kNotificationsPerPage = 256;
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

// The schema of a namespace, version 1, as released: a new namespace is made with it and then
// migrated like an old one. `@` stands for the quoted schema name. The lease row exists from the
// start, expired (in 1970), so taking it is always one UPDATE.
constexpr const char* kSchemaV1[] = {
    "CREATE TABLE @.schema_info (version integer NOT NULL)",
    "CREATE TABLE @.lease (id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, "
    "holder text NOT NULL, expires_at timestamptz NOT NULL)",
    "INSERT INTO @.lease VALUES (1, 0, '', to_timestamp(0))",
    "CREATE TABLE @.services (service_key bigserial PRIMARY KEY, service_id text NOT NULL UNIQUE)",
    "CREATE TABLE @.samples (service_key bigint NOT NULL, seq bigint NOT NULL, "
    "timestamp_ms bigint NOT NULL, latency_ms float8 NOT NULL, payload_kb float8, "
    "PRIMARY KEY (service_key, seq))",
    "CREATE TABLE @.events (event_id bigserial PRIMARY KEY, service_key bigint NOT NULL, "
    "seq bigint NOT NULL, timestamp_ms bigint NOT NULL, from_state text NOT NULL, "
    "to_state text NOT NULL, reason text NOT NULL, metadata_json text NOT NULL)",
    "CREATE INDEX events_by_service ON @.events (service_key, event_id)",
    "CREATE TABLE @.snapshots (service_key bigint PRIMARY KEY, last_seq bigint NOT NULL, "
    "data bytea NOT NULL)",
    "INSERT INTO @.schema_info VALUES (1)",
};
// Migrations: kMigrations[i] takes schema version i + 1 to i + 2, each run in the transaction that
// opens the namespace.
const std::vector<std::vector<const char*>> kMigrations = {
    // 1 -> 2: the notification outbox (docs/storage-guide.md, "The notification outbox"), in the
    // order written (notification_id); (id, target) names a row.
    {
        "CREATE TABLE @.notifications (notification_id bigserial PRIMARY KEY, id text NOT NULL, "
        "target text NOT NULL, service_key bigint NOT NULL, body text NOT NULL, "
        "created_ms bigint NOT NULL, state integer NOT NULL, attempts bigint NOT NULL, "
        "updated_ms bigint NOT NULL, last_error text NOT NULL, UNIQUE (id, target))",
        "CREATE INDEX notifications_by_service ON @.notifications (service_key)",
    },
};

const char* Text(const char* text) { return text == nullptr ? "" : text; }

const char* ServiceId(const char* service_id) {
  if (service_id == nullptr || *service_id == '\0') {
    throw StorageError(DW_STATUS_INVALID_ARGUMENT, "a write names no service_id");
  }
  return service_id;
}

// A namespace is a PostgreSQL schema name we quote ourselves, so only plain lower-case names;
// PostgreSQL keeps names that start with pg_ for itself.
bool ValidNamespace(const std::string& name) {
  if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9')) return false;
  if (name.rfind("pg_", 0) == 0) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string Replace(std::string sql, const std::string& schema) {
  for (size_t at = sql.find('@'); at != std::string::npos; at = sql.find('@', at + 1)) {
    sql.replace(at, 1, schema);
  }
  return sql;
}

// The SQLSTATE of a SOCI error from PostgreSQL ("" when it has none, e.g. a lost connection).
std::string SqlState(const soci::soci_error& e) {
  const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e);
  return pg == nullptr ? std::string() : pg->sqlstate();
}

// Array literals for unnest().
void AppendNumber(std::string& out, long long value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}
void AppendQuoted(std::string& out, const char* text) {
  out += '"';
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c == '"' || *c == '\\') out += '\\';
    out += *c;
  }
  out += '"';
}
void AppendHex(std::string& out, const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
}

double ParseDouble(const std::string& text) {
  if (text.empty()) return std::numeric_limits<double>::quiet_NaN();  // NULL: no payload
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  double value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    throw StorageError(DW_STATUS_CORRUPT, "a stored number reads as '" + text + "'");
  }
  return value;
}

std::string FromHex(const std::string& hex) {
  std::string bytes(hex.size() / 2, '\0');
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(digit(hex[2 * i]) * 16 + digit(hex[2 * i + 1]));
  }
  return bytes;
}

// A body in COPY's binary format (PostgreSQL's documentation of COPY, "Binary Format"): a header,
// then each row as its field count and each field as its length and bytes in network order (a
// length of -1 for NULL), then a count of -1 for the end.
class BinaryCopy {
 public:
  explicit BinaryCopy(int16_t fields) : fields_(fields) {
    static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // and its terminating NUL
    out_.append(kSignature, sizeof kSignature);
    Big(uint32_t{0});  // flags: no OIDs
    Big(uint32_t{0});  // no header extension
  }
  // The bytes of a row of `fields` 8-byte fields.
  static size_t RowBytes(int fields) { return 2 + static_cast<size_t>(fields) * (4 + 8); }
  void Reserve(size_t bytes) { out_.reserve(out_.size() + bytes + 2); }

  void Row() { Big(static_cast<uint16_t>(fields_)); }
  void Int64(long long value) {
    Big(uint32_t{8});
    Big(static_cast<uint64_t>(value));
  }
  void Float64(double value) {
    uint64_t bits = 0;
    static_assert(sizeof bits == sizeof value);
    std::memcpy(&bits, &value, sizeof bits);
    Big(uint32_t{8});
    Big(bits);
  }
  void Null() { Big(static_cast<uint32_t>(-1)); }
  const std::string& Finish() {
    Big(static_cast<uint16_t>(-1));
    return out_;
  }

 private:
  template <typename Unsigned>
  void Big(Unsigned value) {
    char bytes[sizeof value];
    for (size_t i = 0; i < sizeof value; ++i) {
      bytes[i] = static_cast<char>(value >> (8 * (sizeof value - 1 - i)));
    }
    out_.append(bytes, sizeof bytes);
  }

  int16_t fields_;
  std::string out_;
};

// A libpq error as SOCI's, so that Guarded treats it as any other statement's: with the SQLSTATE
// the server gave, or without one (a lost connection).
[[noreturn]] void ThrowPq(PGconn* conn, const PGresult* result, const std::string& what) {
  const char* message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message == nullptr || *message == '\0') message = PQerrorMessage(conn);
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string text = what + ": " + (message == nullptr ? "" : message);
  if (state != nullptr && std::strlen(state) == 5) throw soci::postgresql_soci_error(text, state);
  throw soci::soci_error(text);
}

// Runs `sql`, a COPY ... FROM STDIN, on the session's connection, sending `data` as its rows. In
// whatever transaction the session is in; the connection is back to normal whatever happens.
void CopyIn(soci::session& session, const std::string& sql, const std::string& data) {
  auto* backend = static_cast<soci::postgresql_session_backend*>(session.get_backend());
  PGconn* conn = backend->conn_;
  using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;
  {
    const Result started(PQexec(conn, sql.c_str()), &PQclear);
    if (PQresultStatus(started.get()) != PGRES_COPY_IN) ThrowPq(conn, started.get(), "COPY");
  }
  // In blocking mode PQputCopyData queues or sends, and fails only when the connection does.
  constexpr size_t kChunk = size_t{1} << 18;
  bool sent = true;
  for (size_t at = 0; sent && at < data.size(); at += kChunk) {
    const size_t size = std::min(kChunk, data.size() - at);
    sent = PQputCopyData(conn, data.data() + at, static_cast<int>(size)) == 1;
  }
  sent = PQputCopyEnd(conn, sent ? nullptr : "the rows could not be sent") == 1 && sent;
  // The COPY's outcome, then nothing: read to the end so the connection takes the next statement.
  Result failed(nullptr, &PQclear);
  for (;;) {
    Result result(PQgetResult(conn), &PQclear);
    if (result == nullptr) break;
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COPY_IN) break;  // the end did not go out: the connection is broken
    if (status != PGRES_COMMAND_OK && failed == nullptr) failed = std::move(result);
  }
  if (failed != nullptr) ThrowPq(conn, failed.get(), "COPY");
  if (!sent) ThrowPq(conn, nullptr, "COPY");
}

// libpq's keyword form of a connection URI (or of a keyword string): SOCI 4.0 takes the
// "postgresql://" of a URI for its own backend prefix and garbles the rest.
std::string KeywordForm(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw sdk::ParamError(-1, "url: not a libpq connection string: " + why);
  }
  std::string out;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    if (!out.empty()) out += ' ';
    out += option->keyword;
    out += "='";
    for (const char* c = option->val; *c != '\0'; ++c) {
      if (*c == '\'' || *c == '\\') out += '\\';
      out += *c;
    }
    out += '\'';
  }
  PQconninfoFree(options);
  return out;
}

// When process `pid` started (field 22 of /proc/PID/stat, in clock ticks since boot), or "" when
// no such process runs: with the pid, it names one process, even after its pid was reused.
std::string ProcessStart(const std::string& pid) {
  std::ifstream file("/proc/" + pid + "/stat");
  std::string stat;
  std::getline(file, stat);
  const size_t name_end = stat.rfind(')');  // the command name may hold spaces
  if (name_end == std::string::npos) return "";
  std::istringstream fields(stat.substr(name_end + 2));
  std::string field;
  for (int index = 3; index <= 22 && fields >> field; ++index) {
    if (index == 22) return field;
  }
  return "";
}

// "host:pid:start": who holds a lease, shown to the instance that is refused.
std::string HolderName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  const std::string pid = std::to_string(getpid());
  return std::string(host) + ":" + pid + ":" + ProcessStart(pid);
}

// Whether `holder` is a process of this machine that no longer runs (its pid is gone, or now
// names a process that started at another time, as PID 1 of a restarted container does): its
// lease is dead, whatever its expiry says, so a restart after a crash need not wait for it. A
// frozen process still runs.
bool HolderIsGoneFromThisHost(const std::string& holder) {
  const size_t start_colon = holder.rfind(':');
  if (start_colon == std::string::npos || start_colon == 0) return false;
  const size_t pid_colon = holder.rfind(':', start_colon - 1);
  if (pid_colon == std::string::npos) return false;
  const std::string mine = HolderName();
  const size_t my_pid_colon = mine.rfind(':', mine.rfind(':') - 1);
  if (holder.compare(0, pid_colon, mine, 0, my_pid_colon) != 0 || pid_colon != my_pid_colon) {
    return false;  // another machine's (or another naming's): only its expiry tells
  }
  const std::string pid = holder.substr(pid_colon + 1, start_colon - pid_colon - 1);
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return false;
  return ProcessStart(pid) != holder.substr(start_colon + 1);
}

[[noreturn]] void Fenced(const std::string& ns, const std::string& why) {
  std::fprintf(stderr,
               "\npostgresql: FATAL: namespace '%s' is no longer ours: %s. Another instance took "
               "it over while this one was stopped or cut off; this instance must not write again "
               "and exits now (status %d).\n",
               ns.c_str(), why.c_str(), kExitFenced);
  std::fflush(stderr);
  std::_Exit(kExitFenced);
}

// One connection, reconnected on use after it broke, at most once per backoff interval.
class Connection {
 public:
  Connection(std::string url, std::function<void(soci::session&)> setup)
      : url_(std::move(url)), setup_(std::move(setup)) {}

  soci::session& Get() {
    if (session_ != nullptr) return *session_;
    const auto now = Clock::now();
    if (now < next_attempt_) {
      throw StorageError(DW_STATUS_IO_ERROR, "the connection to PostgreSQL is lost (" + lost_ +
                                                 "); reconnecting with backoff");
    }
    try {
      auto session = std::make_unique<soci::session>(*soci::factory_postgresql(), url_);
      setup_(*session);
      session_ = std::move(session);
      backoff_ = kFirstBackoff;
      return *session_;
    } catch (const soci::soci_error& e) {
      lost_ = e.what();
      next_attempt_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, kMaxBackoff);
      throw StorageError(DW_STATUS_IO_ERROR, "cannot connect to PostgreSQL: " + lost_);
    }
  }

  // After a failed statement: drops the connection if it broke, so that the next Get reconnects.
  // Whether it broke.
  bool CheckAfterFailure() {
    if (session_ == nullptr) return true;
    auto* backend = static_cast<soci::postgresql_session_backend*>(session_->get_backend());
    if (backend != nullptr && backend->conn_ != nullptr &&
        PQstatus(backend->conn_) == CONNECTION_OK) {
      return false;
    }
    lost_ = "connection closed";
    session_.reset();
    return true;
  }

 private:
  std::string url_;
  std::function<void(soci::session&)> setup_;
  std::unique_ptr<soci::session> session_;
  Clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  std::string lost_;
};

class PostgresStore {
 public:
  static constexpr const char* kName = "postgresql";
  static constexpr const char* kVersion = "1.1.0";

  static PostgresStore* Open(sdk::Params& params) {
    params.String("path", "");  // the host passes storage.path to every backend; unused here
    const std::string url = params.String("url", "");
    const std::string ns = params.String("namespace", "driftwatch");
    const uint32_t lease_seconds = params.UInt("lease_seconds", 10, 1, 3600);
    const std::string standby = params.String("standby", "false");
    params.Finish();
    if (url.empty()) {
      throw sdk::ParamError(-1,
                            "url: required (a libpq connection URI, e.g. "
                            "postgresql://driftwatch@db.example/driftwatch)");
    }
    if (!ValidNamespace(ns)) {
      throw sdk::ParamError(-1, "namespace: '" + ns +
                                    "' is not a plain schema name ([a-z_][a-z0-9_]*, at most 63, "
                                    "not starting with pg_)");
    }
    if (standby != "true" && standby != "false") {
      throw sdk::ParamError(-1, "standby: expected true or false, got '" + standby + "'");
    }
    return new PostgresStore(KeywordForm(url), ns, lease_seconds, standby == "true");
  }

  ~PostgresStore() {
    {
      std::lock_guard<std::mutex> lock(lease_mutex_);
      stopping_ = true;
    }
    lease_wake_.notify_all();
    if (lease_thread_.joinable()) lease_thread_.join();
    try {  // hand the namespace over at once rather than when the lease expires
      soci::session& session = write_.Get();
      session << Sql("UPDATE @.lease SET expires_at = to_timestamp(0) WHERE id = 1 AND epoch = :e"),
          use(epoch_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "postgresql: namespace '%s': lease not released (it expires): %s\n",
                   ns_.c_str(), e.what());
    }
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  void Write(const dw_type_write_batch& whole) {
    std::lock_guard<std::mutex> lock(write_mutex_);
    Resync();
    // After a lost connection the host retries the batch whose COMMIT may have gone through:
    // what of it is stored already is left out (samples by seq, events when an identical one is
    // stored; snapshots are replaced anyway), so nothing is applied twice.
    std::vector<dw_type_stored_sample> unstored;
    dw_type_write_batch batch = whole;
    if (after_loss_) {
      for (size_t i = 0; i < whole.sample_count; ++i) {
        const auto stored = max_seqs_.find(ServiceId(whole.samples[i].service_id));
        if (stored == max_seqs_.end() ||
            whole.samples[i].seq > static_cast<uint64_t>(stored->second)) {
          unstored.push_back(whole.samples[i]);
        }
      }
      batch.samples = unstored.data();
      batch.sample_count = unstored.size();
    }
    auto newest = CheckBatch(batch);  // refused before anything is sent: nothing changes
    long long events_added = 0;
    Guarded("write", [&](soci::session& session) {
      std::unordered_map<std::string, long long> created;  // cached only once committed
      soci::transaction transaction(session);
      CheckEpoch(session);
      auto key_of = [&](const char* id) { return KeyOf(session, id, created); };
      InsertSamples(session, batch, key_of);
      events_added = InsertEvents(session, batch, key_of);
      UpsertSnapshots(session, batch, key_of);
      InsertNotifications(session, batch, key_of);
      UpdateNotifications(session, batch);
      transaction.commit();
      keys_.merge(created);
    });
    after_loss_ = false;
    for (auto& [id, seq] : newest) max_seqs_[id] = seq;
    sample_count_ += batch.sample_count;
    event_count_ += static_cast<uint64_t>(events_added);
  }

  void ScanServices(dw_type_service_callback callback, void* context) {
    struct Row {
      long long key = 0;
      std::string service_id;
      bool has_snapshot = false;
      long long last_seq = 0;
      std::string data;
      long long max_seq = 0;
    };
    long long after_key = 0;
    for (;;) {
      std::vector<Row> page;
      Read("service scan", [&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << Sql("SELECT s.service_key, s.service_id, n.last_seq, "
                                    "encode(n.data, 'hex'), (SELECT max(seq) FROM "
                                    "@.samples m WHERE m.service_key = s.service_key) "
                                    "FROM @.services s LEFT JOIN @.snapshots n ON "
                                    "n.service_key = s.service_key WHERE s.service_key > "
                                    ":after ORDER BY s.service_key LIMIT :limit"),
             use(after_key), use(kServicesPerPage));
        for (const soci::row& row : rows) {
          Row out;
          out.key = row.get<long long>(0);
          out.service_id = row.get<std::string>(1);
          out.has_snapshot = row.get_indicator(2) == soci::i_ok;
          if (out.has_snapshot) {
            out.last_seq = row.get<long long>(2);
            out.data = FromHex(row.get<std::string>(3));
          }
          if (row.get_indicator(4) == soci::i_ok) out.max_seq = row.get<long long>(4);
          page.push_back(std::move(out));
        }
      });
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

  void ScanSamples(const char* service_id, uint64_t after_seq, dw_type_sample_callback callback,
                   void* context) {
    const std::string id = ServiceId(service_id);
    if (after_seq >= static_cast<uint64_t>(LLONG_MAX)) return;  // seqs above it are never stored
    auto after = static_cast<long long>(after_seq);
    for (;;) {
      std::vector<dw_type_stored_sample> page;
      Read("sample scan", [&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << Sql("SELECT seq, timestamp_ms, latency_ms::text, "
                                    "coalesce(payload_kb::text, '') FROM @.samples WHERE "
                                    "service_key = (SELECT service_key FROM @.services WHERE "
                                    "service_id = :id) AND seq > :after ORDER BY seq LIMIT :limit"),
             use(id), use(after), use(kSamplesPerPage));
        for (const soci::row& row : rows) {
          page.push_back({nullptr, static_cast<uint64_t>(row.get<long long>(0)),
                          row.get<long long>(1), ParseDouble(row.get<std::string>(2)),
                          ParseDouble(row.get<std::string>(3))});
        }
      });
      for (dw_type_stored_sample& sample : page) {
        sample.service_id = id.c_str();
        if (callback(context, &sample) != 0) return;
      }
      if (static_cast<long long>(page.size()) < kSamplesPerPage) return;
      after = static_cast<long long>(page.back().seq);
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
      Read("event query", [&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << Sql("SELECT event_id, seq, timestamp_ms, from_state, to_state, "
                                    "reason, metadata_json FROM @.events WHERE service_key = "
                                    "(SELECT service_key FROM @.services WHERE service_id = :id) "
                                    "AND event_id < :before ORDER BY event_id DESC LIMIT :limit"),
             use(service), use(before_id), use(page_limit));
        for (const soci::row& row : rows) {
          page.push_back({row.get<long long>(0), row.get<long long>(1), row.get<long long>(2),
                          row.get<std::string>(3), row.get<std::string>(4), row.get<std::string>(5),
                          row.get<std::string>(6)});
        }
      });
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
    long long bytes = 0;
    Read("stats", [&](soci::session& session) {
      session << "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                 "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :ns AND "
                 "c.relkind = 'r'",
          use(ns_), into(bytes);
    });
    stats.sample_count = sample_count_.load();
    stats.event_count = event_count_.load();
    stats.size_bytes = static_cast<uint64_t>(bytes);
  }

  void Forget(const char* service_id) {
    const std::string id = ServiceId(service_id);
    std::lock_guard<std::mutex> lock(write_mutex_);
    Resync();
    const auto known = keys_.find(id);
    if (known == keys_.end()) return;  // unknown: nothing to forget
    const long long key = known->second;
    long long samples = 0;
    long long events = 0;
    Guarded("forgetting '" + id + "'", [&](soci::session& session) {
      soci::transaction transaction(session);
      CheckEpoch(session);
      session << Sql(
          "WITH d AS (DELETE FROM @.samples WHERE service_key = :k RETURNING 1) "
          "SELECT count(*) FROM d"),
          use(key), into(samples);
      session << Sql(
          "WITH d AS (DELETE FROM @.events WHERE service_key = :k RETURNING 1) "
          "SELECT count(*) FROM d"),
          use(key), into(events);
      session << Sql("DELETE FROM @.snapshots WHERE service_key = :k"), use(key);
      session << Sql("DELETE FROM @.notifications WHERE service_key = :k"), use(key);
      session << Sql("DELETE FROM @.services WHERE service_key = :k"), use(key);
      transaction.commit();
    });
    keys_.erase(known);
    max_seqs_.erase(id);
    sample_count_ -= static_cast<uint64_t>(samples);
    event_count_ -= static_cast<uint64_t>(events);
  }

  // The same rules as the other backends, each pass one statement per kind: events oldest first,
  // stopping at the first young one; outbox rows that are no longer pending and were last updated
  // before events_before_ms, in the order written; per service with a snapshot, its samples in seq
  // order up to the snapshot and short of its newest, stopping at the first young one.
  uint64_t Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows) {
    std::lock_guard<std::mutex> lock(write_mutex_);
    Resync();
    long long events = 0;
    long long notifications = 0;
    long long samples = 0;
    Guarded("retention", [&](soci::session& session) {
      soci::transaction transaction(session);
      CheckEpoch(session);
      const long long rows = max_rows;
      const long long events_before = events_before_ms;
      session << Sql(
          "WITH c AS (SELECT event_id, bool_and(timestamp_ms < :before) OVER "
          "(ORDER BY event_id) AS old FROM (SELECT event_id, timestamp_ms FROM "
          "@.events ORDER BY event_id LIMIT :rows) f), d AS (DELETE FROM @.events e "
          "USING c WHERE c.old AND e.event_id = c.event_id RETURNING 1) "
          "SELECT count(*) FROM d"),
          use(events_before), use(rows), into(events);
      const long long room = rows - events;
      if (room > 0) {
        const int pending = DW_NOTIFICATION_PENDING;
        session << Sql(
            "WITH d AS (DELETE FROM @.notifications WHERE notification_id IN (SELECT "
            "notification_id FROM @.notifications WHERE state <> :pending AND updated_ms < "
            ":before ORDER BY notification_id LIMIT :rows) RETURNING 1) SELECT count(*) FROM d"),
            use(pending), use(events_before), use(room), into(notifications);
      }
      const long long left = room - notifications;
      if (left > 0) {
        const long long samples_before = samples_before_ms;
        session << Sql(
            "WITH c AS (SELECT y.service_key, y.seq, bool_and(y.seq <= "
            "least(n.last_seq, m.max_seq - 1) AND y.timestamp_ms < :before) OVER "
            "(PARTITION BY y.service_key ORDER BY y.seq) AS old FROM @.snapshots n "
            "CROSS JOIN LATERAL (SELECT max(seq) AS max_seq FROM @.samples x WHERE "
            "x.service_key = n.service_key) m CROSS JOIN LATERAL (SELECT service_key, "
            "seq, timestamp_ms FROM @.samples x WHERE x.service_key = n.service_key "
            "ORDER BY seq LIMIT :left) y), v AS (SELECT service_key, seq FROM c "
            "WHERE old ORDER BY service_key, seq LIMIT :left_again), d AS (DELETE FROM "
            "@.samples s USING v WHERE s.service_key = v.service_key AND s.seq = v.seq "
            "RETURNING 1) SELECT count(*) FROM d"),
            use(samples_before), use(left), use(left), into(samples);
      }
      transaction.commit();
    });
    sample_count_ -= static_cast<uint64_t>(samples);
    event_count_ -= static_cast<uint64_t>(events);
    return static_cast<uint64_t>(events + notifications + samples);
  }

  // In pages by notification_id, each page one statement (so it sees whole batches).
  void ScanNotifications(const char* target, int32_t state, uint32_t limit, bool newest_first,
                         dw_type_notification_callback callback, void* context) {
    struct Row {
      long long order;
      std::string id, target, service_id, body;
      long long created_ms;
      int state;
      long long attempts;
      long long updated_ms;
      std::string last_error;
    };
    const std::string wanted = Text(target);
    const std::string sql =
        Sql("SELECT n.notification_id, n.id, n.target, s.service_id, n.body, n.created_ms, "
            "n.state, n.attempts, n.updated_ms, n.last_error FROM @.notifications n JOIN "
            "@.services s ON s.service_key = n.service_key WHERE (:t = '' OR n.target = :t_again) "
            "AND (:st = 0 OR n.state = :st_again) AND n.notification_id ") +
        (newest_first ? "< :cursor ORDER BY n.notification_id DESC LIMIT :limit"
                      : "> :cursor ORDER BY n.notification_id LIMIT :limit");
    const int wanted_state = state;
    long long cursor = newest_first ? std::numeric_limits<long long>::max() : 0;
    uint64_t remaining = limit == 0 ? UINT64_MAX : limit;
    while (remaining > 0) {
      std::vector<Row> page;
      const long long page_limit =
          static_cast<long long>(std::min<uint64_t>(remaining, kNotificationsPerPage));
      Read("notification scan", [&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << sql, use(wanted), use(wanted), use(wanted_state), use(wanted_state),
             use(cursor), use(page_limit));
        for (const soci::row& row : rows) {
          page.push_back({row.get<long long>(0), row.get<std::string>(1), row.get<std::string>(2),
                          row.get<std::string>(3), row.get<std::string>(4), row.get<long long>(5),
                          row.get<int>(6), row.get<long long>(7), row.get<long long>(8),
                          row.get<std::string>(9)});
        }
      });
      for (const Row& row : page) {
        const dw_type_notification raw = {row.id.c_str(),
                                          row.target.c_str(),
                                          row.service_id.c_str(),
                                          row.body.c_str(),
                                          row.created_ms,
                                          static_cast<int32_t>(row.state),
                                          static_cast<uint32_t>(row.attempts),
                                          row.updated_ms,
                                          row.last_error.c_str()};
        if (callback(context, &raw) != 0) return;
      }
      if (static_cast<long long>(page.size()) < page_limit) return;
      remaining -= page.size();
      cursor = page.back().order;
    }
  }

 private:
  PostgresStore(const std::string& url, std::string ns, uint32_t lease_seconds, bool standby)
      : ns_(std::move(ns)),
        schema_("\"" + ns_ + "\""),
        lease_seconds_(lease_seconds),
        lease_secs_(static_cast<int>(lease_seconds)),
        holder_(HolderName()),
        write_(url, [this](soci::session& s) { SetUp(s); }),
        read_(url, [this](soci::session& s) { SetUp(s); }),
        lease_(url, [this](soci::session& s) { SetUp(s); }) {
    soci::session& session = write_.Get();
    Guarded("opening namespace '" + ns_ + "'", [&](soci::session&) { PrepareSchema(session); });
    TakeLease(standby);
    Guarded("loading namespace '" + ns_ + "'", [&](soci::session&) { LoadState(session); });
    lease_thread_ = std::thread([this] { RenewLease(); });
  }

  // Every session: shortest exact floats both ways; a transaction left idle (its client frozen)
  // is ended by the server before the lease runs out, so it never holds the lease row from the
  // instance that takes over.
  void SetUp(soci::session& session) const {
    session << "SET extra_float_digits = 3";
    session << "SET client_min_messages = warning";  // no NOTICE of an existing schema at start
    session << "SET idle_in_transaction_session_timeout = " +
                   std::to_string(std::max<uint32_t>(lease_seconds_ * 500, 500));
    session << "SET application_name = 'driftwatch " + ns_ + "'";
  }

  std::string Sql(const char* sql) const { return Replace(sql, schema_); }

  // Creates or migrates the namespace, in one transaction; two instances opening it at once take
  // turns (the advisory lock only orders this step: ownership is the lease).
  void PrepareSchema(soci::session& session) {
    soci::transaction transaction(session);
    session << "SELECT pg_advisory_xact_lock(hashtext('driftwatch namespace ' || :ns))", use(ns_);
    session << "CREATE SCHEMA IF NOT EXISTS " + schema_;
    soci::indicator exists = soci::i_null;
    std::string found;
    const std::string table = schema_ + ".schema_info";  // SOCI binds a variable, never a temporary
    session << "SELECT to_regclass(:t)::text", use(table), into(found, exists);
    if (exists != soci::i_ok) {
      long long tables = 0;
      session << "SELECT count(*) FROM pg_tables WHERE schemaname = :ns", use(ns_), into(tables);
      if (tables != 0) {
        throw StorageError(DW_STATUS_CORRUPT, "schema '" + ns_ +
                                                  "' holds tables that are not DriftWatch's: "
                                                  "choose another storage.namespace");
      }
      for (const char* statement : kSchemaV1) session << Sql(statement);  // then migrated below
    }
    int version = 0;
    session << Sql("SELECT version FROM @.schema_info"), into(version);
    if (version > kSchemaVersion) {
      throw StorageError(DW_STATUS_CORRUPT,
                         "namespace '" + ns_ + "' has schema version " + std::to_string(version) +
                             ", newer than this plugin's " + std::to_string(kSchemaVersion) +
                             ": upgrade DriftWatch");
    }
    if (version < 1) {
      throw StorageError(DW_STATUS_CORRUPT, "namespace '" + ns_ + "' has no schema version");
    }
    for (int from = version; from < kSchemaVersion; ++from) {
      for (const char* statement : kMigrations.at(static_cast<size_t>(from - 1))) {
        session << Sql(statement);
      }
      const int next = from + 1;
      session << Sql("UPDATE @.schema_info SET version = :v"), use(next);
    }
    transaction.commit();
  }

  // Takes the lease: at once when it expired (or its holder is a process of this machine that is
  // gone); else refuses, or with standby waits for it to expire.
  void TakeLease(bool standby) {
    bool announced = false;
    for (;;) {
      std::string holder;
      long long epoch = 0;
      double remaining = 0;
      bool taken = false;
      std::string busy;  // why the lease could not be read (its row stayed locked, say)
      auto take = [&](soci::session& session) {
        soci::transaction transaction(session);
        session << "SET LOCAL lock_timeout = " + std::to_string(lease_seconds_ * 1000);
        session << Sql(
            "SELECT holder, epoch, extract(epoch FROM expires_at - clock_timestamp()) "
            "FROM @.lease WHERE id = 1 FOR UPDATE"),
            into(holder), into(epoch), into(remaining);
        if (remaining <= 0 || holder.empty() || HolderIsGoneFromThisHost(holder)) {
          epoch_ = epoch + 1;
          session << Sql(
              "UPDATE @.lease SET epoch = :e, holder = :h, expires_at = "
              "clock_timestamp() + make_interval(secs => :s) WHERE id = 1"),
              use(epoch_), use(holder_), use(lease_secs_);
          taken = true;
        }
        transaction.commit();
      };
      try {
        Guarded("taking the lease of namespace '" + ns_ + "'", take);
      } catch (const StorageError& e) {
        if (!standby || e.status() != DW_STATUS_IO_ERROR) throw;
        busy = e.what();  // a standby waits on, and tries again
      }
      if (taken) return;
      char left[32];
      std::snprintf(left, sizeof left, "%.1f", remaining);
      const std::string held = !busy.empty() ? busy

                                             : "namespace '" + ns_ + "' is owned by " + holder +
                                                   " (lease epoch " + std::to_string(epoch) + ", " +
                                                   left + " s left)";
      if (!standby) {
        throw StorageError(DW_STATUS_IO_ERROR,
                           held +
                               ": another instance runs on it. Stop it, choose another "
                               "storage.namespace, or set storage.standby: true to wait for it");
      }
      if (!announced || !busy.empty()) {
        std::fprintf(stderr, "postgresql: %s; standing by to take over when it expires\n",
                     held.c_str());
        std::fflush(stderr);
        announced = true;
      }
      // Until the lease should have ended, but looking again at least every quarter lease (a
      // graceful owner hands it back early).
      const long long quarter = static_cast<long long>(lease_seconds_) * 250;
      std::this_thread::sleep_for(std::chrono::milliseconds(
          busy.empty()
              ? std::clamp<long long>(static_cast<long long>(remaining * 1000) + 50, 50, quarter)
              : quarter));
    }
  }

  void LoadState(soci::session& session) {
    keys_.clear();
    max_seqs_.clear();
    soci::rowset<soci::row> services =
        (session.prepare << Sql("SELECT s.service_key, s.service_id, (SELECT max(seq) FROM "
                                "@.samples m WHERE m.service_key = s.service_key) FROM "
                                "@.services s"));
    for (const soci::row& row : services) {
      const auto key = row.get<long long>(0);
      const auto id = row.get<std::string>(1);
      keys_.emplace(id, key);
      if (row.get_indicator(2) == soci::i_ok) max_seqs_[id] = row.get<long long>(2);
    }
    long long samples = 0;
    long long events = 0;
    session << Sql("SELECT count(*) FROM @.samples"), into(samples);
    session << Sql("SELECT count(*) FROM @.events"), into(events);
    sample_count_ = static_cast<uint64_t>(samples);
    event_count_ = static_cast<uint64_t>(events);
  }

  // After the write connection broke, the outcome of the last COMMIT is unknown: the caches of
  // keys, seqs and counts are read again from what is stored before the next write-side call.
  void Resync() {
    if (!resync_) return;
    Guarded("reading namespace '" + ns_ + "' again after a lost connection",
            [&](soci::session& session) { LoadState(session); });
    resync_ = false;
  }

  // In the caller's transaction, first: renews the lease where its epoch is still ours, and holds
  // its row until the commit, so no takeover can come between the check and the commit.
  void CheckEpoch(soci::session& session) {
    long long epoch = 0;
    soci::indicator found = soci::i_null;
    session << Sql(
        "UPDATE @.lease SET expires_at = clock_timestamp() + make_interval(secs => :s) "
        "WHERE id = 1 AND epoch = :e RETURNING epoch"),
        use(lease_secs_), use(epoch_), into(epoch, found);
    if (found != soci::i_ok) Fenced(ns_, WhoHasIt(session));
  }

  std::string WhoHasIt(soci::session& session) {
    try {
      std::string holder;
      long long epoch = 0;
      session << Sql("SELECT holder, epoch FROM @.lease WHERE id = 1"), into(holder), into(epoch);
      return "its lease epoch is now " + std::to_string(epoch) + " (held by " + holder +
             "), ours was " + std::to_string(epoch_);
    } catch (const std::exception&) {
      return "its lease epoch is no longer ours (" + std::to_string(epoch_) + ")";
    }
  }

  // The lease thread: renews every third of the lease, so one failed renewal still leaves time.
  void RenewLease() {
    const auto every = std::chrono::milliseconds(lease_seconds_ * 1000 / 3);
    std::unique_lock<std::mutex> lock(lease_mutex_);
    while (!lease_wake_.wait_for(lock, every, [this] { return stopping_; })) {
      try {
        soci::session& session = lease_.Get();
        long long epoch = 0;
        soci::indicator found = soci::i_null;
        session << Sql(
            "UPDATE @.lease SET expires_at = clock_timestamp() + "
            "make_interval(secs => :s) WHERE id = 1 AND epoch = :e RETURNING epoch"),
            use(lease_secs_), use(epoch_), into(epoch, found);
        if (found != soci::i_ok) Fenced(ns_, WhoHasIt(session));
      } catch (const soci::soci_error& e) {
        lease_.CheckAfterFailure();  // a commit would tell whether we still own it; retried next
                                     // round
        std::fprintf(stderr, "postgresql: namespace '%s': lease renewal failed: %s\n", ns_.c_str(),
                     e.what());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "postgresql: namespace '%s': lease renewal failed: %s\n", ns_.c_str(),
                     e.what());
      }
    }
  }

  // Refuses a batch that would store a (service, seq) twice or not in rising order, from the seqs
  // committed (ours alone: we own the namespace).
  std::unordered_map<std::string, long long> CheckBatch(const dw_type_write_batch& batch) {
    std::unordered_map<std::string, long long> newest;  // what max_seqs_ becomes once committed
    const char* last_id = nullptr;
    long long* last_seq = nullptr;
    for (size_t i = 0; i < batch.sample_count; ++i) {
      const dw_type_stored_sample& sample = batch.samples[i];
      // The host hands a service's samples with one shared id: compare pointers first.
      if (last_id == nullptr ||
          (sample.service_id != last_id && std::strcmp(sample.service_id, last_id) != 0)) {
        const std::string id = ServiceId(sample.service_id);
        auto found = newest.find(id);
        if (found == newest.end()) {
          const auto stored = max_seqs_.find(id);
          found = newest.emplace(id, stored == max_seqs_.end() ? 0 : stored->second).first;
        }
        last_seq = &found->second;
      }
      last_id = sample.service_id;
      if (sample.seq <= static_cast<uint64_t>(*last_seq) || sample.seq > LLONG_MAX) {
        throw StorageError(DW_STATUS_INVALID_ARGUMENT,
                           "sample " + std::to_string(sample.seq) + " of '" + sample.service_id +
                               "' does not follow seq " + std::to_string(*last_seq) +
                               " (stored, or earlier in the batch): a service's seqs must "
                               "increase");
      }
      *last_seq = static_cast<long long>(sample.seq);
    }
    for (size_t i = 0; i < batch.event_count; ++i) ServiceId(batch.events[i].service_id);
    for (size_t i = 0; i < batch.snapshot_count; ++i) ServiceId(batch.snapshots[i].service_id);
    for (size_t i = 0; i < batch.notification_count; ++i) {
      ServiceId(batch.notifications[i].service_id);
    }
    return newest;
  }

  // The key of a service, adding it (inside the caller's transaction) when it is new.
  long long KeyOf(soci::session& session, const char* service_id,
                  std::unordered_map<std::string, long long>& created) {
    const std::string id = service_id;
    const auto known = keys_.find(id);
    if (known != keys_.end()) return known->second;
    // A service new in this batch (a map: a fresh store may see thousands in its first batch).
    if (const auto fresh = created.find(id); fresh != created.end()) return fresh->second;
    long long key = 0;
    session << Sql("INSERT INTO @.services (service_id) VALUES (:id) RETURNING service_key"),
        use(id), into(key);
    created.emplace(id, key);
    return key;
  }

  // Every sample by one binary COPY into the samples table, in the caller's transaction (after
  // the epoch check, so a fenced instance sends none). COPY is PostgreSQL's cheapest way in for
  // many rows: no SQL to parse per row, and in binary no number goes through text either way, so
  // a double is stored with the very bits it had (NaN and -0 included).
  template <typename KeyOf>
  void InsertSamples(soci::session& session, const dw_type_write_batch& batch, KeyOf&& key_of) {
    if (batch.sample_count == 0) return;
    BinaryCopy copy(5);
    copy.Reserve(batch.sample_count * BinaryCopy::RowBytes(5));
    const char* last_id = nullptr;
    long long last_key = 0;
    for (size_t i = 0; i < batch.sample_count; ++i) {
      const dw_type_stored_sample& sample = batch.samples[i];
      // The key first: a new service's row is inserted now, before the COPY starts.
      if (last_id == nullptr ||
          (sample.service_id != last_id && std::strcmp(last_id, sample.service_id) != 0)) {
        last_key = key_of(sample.service_id);
        last_id = sample.service_id;
      }
      copy.Row();
      copy.Int64(last_key);
      copy.Int64(static_cast<long long>(sample.seq));
      copy.Int64(sample.timestamp_ms);
      copy.Float64(sample.latency_ms);
      if (std::isnan(sample.payload_kb)) {
        copy.Null();  // no payload
      } else {
        copy.Float64(sample.payload_kb);
      }
    }
    CopyIn(session,
           Sql("COPY @.samples (service_key, seq, timestamp_ms, latency_ms, payload_kb) "
               "FROM STDIN (FORMAT binary)"),
           copy.Finish());
  }

  // One multi-row INSERT of every event, in batch order (their ids give the order back); returns
  // how many it wrote.
  template <typename KeyOf>
  long long InsertEvents(soci::session& session, const dw_type_write_batch& batch, KeyOf&& key_of) {
    if (batch.event_count == 0) return 0;
    std::string keys = "{", seqs = "{", times = "{", froms = "{", tos = "{", reasons = "{",
                metadata = "{";
    for (size_t i = 0; i < batch.event_count; ++i) {
      const dw_type_stored_event& event = batch.events[i];
      const char* comma = i == 0 ? "" : ",";
      keys += comma;
      AppendNumber(keys, key_of(event.service_id));
      seqs += comma;
      AppendNumber(seqs, static_cast<long long>(event.seq));
      times += comma;
      AppendNumber(times, event.timestamp_ms);
      froms += comma;
      AppendQuoted(froms, Text(event.from_state));
      tos += comma;
      AppendQuoted(tos, Text(event.to_state));
      reasons += comma;
      AppendQuoted(reasons, Text(event.reason));
      metadata += comma;
      AppendQuoted(metadata, Text(event.metadata_json));
    }
    for (std::string* array : {&keys, &seqs, &times, &froms, &tos, &reasons, &metadata}) {
      *array += '}';
    }
    // After a lost connection, an event already stored as it is now was written by the commit
    // whose outcome was unknown: it is not written twice.
    const int dedupe = after_loss_ ? 1 : 0;
    long long added = 0;
    session << Sql(
        "WITH i AS (INSERT INTO @.events (service_key, seq, timestamp_ms, from_state, to_state, "
        "reason, metadata_json) SELECT k, s, t, f, o, r, m FROM unnest(CAST(:k AS bigint[]), "
        "CAST(:s AS bigint[]), CAST(:t AS bigint[]), CAST(:f AS text[]), "
        "CAST(:o AS text[]), CAST(:r AS text[]), CAST(:m AS text[])) WITH ORDINALITY "
        "AS u(k, s, t, f, o, r, m, n) WHERE :dedupe = 0 OR NOT EXISTS (SELECT 1 FROM "
        "@.events e WHERE e.service_key = u.k AND e.seq = u.s AND e.timestamp_ms = u.t AND "
        "e.from_state = u.f AND e.to_state = u.o AND e.reason = u.r AND e.metadata_json = u.m) "
        "ORDER BY n RETURNING 1) SELECT count(*) FROM i"),
        use(keys), use(seqs), use(times), use(froms), use(tos), use(reasons), use(metadata),
        use(dedupe), into(added);
    return added;
  }

  // The last snapshot of each service in the batch replaces its stored one.
  template <typename KeyOf>
  void UpsertSnapshots(soci::session& session, const dw_type_write_batch& batch, KeyOf&& key_of) {
    std::map<long long, const dw_type_stored_snapshot*> last;
    for (size_t i = 0; i < batch.snapshot_count; ++i) {
      last[key_of(batch.snapshots[i].service_id)] = &batch.snapshots[i];
    }
    if (last.empty()) return;
    std::string keys = "{", seqs = "{", data = "{";
    for (const auto& [key, snapshot] : last) {
      const char* comma = keys.size() == 1 ? "" : ",";
      keys += comma;
      AppendNumber(keys, key);
      seqs += comma;
      AppendNumber(seqs, static_cast<long long>(snapshot->last_seq));
      data += comma;
      data += '"';
      AppendHex(data, snapshot->data, snapshot->size);
      data += '"';
    }
    for (std::string* array : {&keys, &seqs, &data}) *array += '}';
    session << Sql(
        "INSERT INTO @.snapshots (service_key, last_seq, data) SELECT k, s, "
        "decode(h, 'hex') FROM unnest(CAST(:k AS bigint[]), CAST(:s AS bigint[]), "
        "CAST(:h AS text[])) AS u(k, s, h) ON CONFLICT (service_key) DO UPDATE SET "
        "last_seq = excluded.last_seq, data = excluded.data"),
        use(keys), use(seqs), use(data);
  }

  // One multi-row INSERT of the batch's new outbox rows, in array order (notification_id gives the
  // order back); a row whose (id, target) is stored, or earlier in the batch, is skipped. So a
  // batch retried after a lost COMMIT stores no row twice.
  template <typename KeyOf>
  void InsertNotifications(soci::session& session, const dw_type_write_batch& batch,
                           KeyOf&& key_of) {
    if (batch.notification_count == 0) return;
    std::string ids = "{", targets = "{", keys = "{", bodies = "{", created = "{", states = "{",
                attempts = "{", updated = "{", errors = "{";
    for (size_t i = 0; i < batch.notification_count; ++i) {
      const dw_type_notification& row = batch.notifications[i];
      const char* comma = i == 0 ? "" : ",";
      ids += comma;
      AppendQuoted(ids, Text(row.id));
      targets += comma;
      AppendQuoted(targets, Text(row.target));
      keys += comma;
      AppendNumber(keys, key_of(row.service_id));
      bodies += comma;
      AppendQuoted(bodies, Text(row.body));
      created += comma;
      AppendNumber(created, row.created_ms);
      states += comma;
      AppendNumber(states, row.state);
      attempts += comma;
      AppendNumber(attempts, row.attempts);
      updated += comma;
      AppendNumber(updated, row.updated_ms);
      errors += comma;
      AppendQuoted(errors, Text(row.last_error));
    }
    for (std::string* array :
         {&ids, &targets, &keys, &bodies, &created, &states, &attempts, &updated, &errors}) {
      *array += '}';
    }
    session << Sql(
        "INSERT INTO @.notifications (id, target, service_key, body, created_ms, state, attempts, "
        "updated_ms, last_error) SELECT i, g, k, b, c, s, a, u, e FROM unnest(CAST(:i AS text[]), "
        "CAST(:g AS text[]), CAST(:k AS bigint[]), CAST(:b AS text[]), CAST(:c AS bigint[]), "
        "CAST(:s AS integer[]), CAST(:a AS bigint[]), CAST(:u AS bigint[]), CAST(:e AS text[])) "
        "WITH ORDINALITY AS x(i, g, k, b, c, s, a, u, e, n) ORDER BY n "
        "ON CONFLICT (id, target) DO NOTHING"),
        use(ids), use(targets), use(keys), use(bodies), use(created), use(states), use(attempts),
        use(updated), use(errors);
  }

  // One UPDATE of the stored rows the batch's updates name (the last update of a row wins, as if
  // applied in order); an update of a row that is not stored changes nothing.
  void UpdateNotifications(soci::session& session, const dw_type_write_batch& batch) {
    if (batch.notification_update_count == 0) return;
    std::string ids = "{", targets = "{", states = "{", attempts = "{", updated = "{", errors = "{";
    for (size_t i = 0; i < batch.notification_update_count; ++i) {
      const dw_type_notification& row = batch.notification_updates[i];
      const char* comma = i == 0 ? "" : ",";
      ids += comma;
      AppendQuoted(ids, Text(row.id));
      targets += comma;
      AppendQuoted(targets, Text(row.target));
      states += comma;
      AppendNumber(states, row.state);
      attempts += comma;
      AppendNumber(attempts, row.attempts);
      updated += comma;
      AppendNumber(updated, row.updated_ms);
      errors += comma;
      AppendQuoted(errors, Text(row.last_error));
    }
    for (std::string* array : {&ids, &targets, &states, &attempts, &updated, &errors}) {
      *array += '}';
    }
    session << Sql(
        "UPDATE @.notifications r SET state = x.s, attempts = x.a, updated_ms = x.u, "
        "last_error = x.e FROM (SELECT DISTINCT ON (i, g) i, g, s, a, u, e FROM "
        "unnest(CAST(:i AS text[]), CAST(:g AS text[]), CAST(:s AS integer[]), "
        "CAST(:a AS bigint[]), CAST(:u AS bigint[]), CAST(:e AS text[])) WITH ORDINALITY "
        "AS y(i, g, s, a, u, e, n) ORDER BY i, g, n DESC) x WHERE r.id = x.i AND r.target = x.g"),
        use(ids), use(targets), use(states), use(attempts), use(updated), use(errors);
  }

  // Runs body on the write session, turning SOCI's errors into the ABI's kinds. A write that
  // breaks the rules (a duplicate key) is refused; anything else may pass (IO error), and a lost
  // connection is reconnected on the next call.
  template <typename Body>
  void Guarded(const std::string& what, Body&& body) {
    soci::session& session = write_.Get();
    try {
      body(session);
    } catch (const soci::soci_error& e) {
      const std::string state = SqlState(e);
      if (write_.CheckAfterFailure()) {
        resync_ = true;
        after_loss_ = true;
      }
      if (state == "23505" || state == "22P02" || state == "22003") {
        throw StorageError(DW_STATUS_INVALID_ARGUMENT, what + " refused: " + e.what());
      }
      throw StorageError(DW_STATUS_IO_ERROR, what + " failed: " + e.what());
    }
  }

  template <typename Body>
  void Read(const char* what, Body&& body) {
    std::lock_guard<std::mutex> lock(read_mutex_);
    soci::session& session = read_.Get();
    try {
      body(session);
    } catch (const soci::soci_error& e) {
      read_.CheckAfterFailure();
      throw StorageError(DW_STATUS_IO_ERROR, std::string(what) + " failed: " + e.what());
    }
  }

  const std::string ns_;
  const std::string schema_;  // ns_, quoted
  const uint32_t lease_seconds_;
  const int lease_secs_;  // the same, as SOCI binds it
  const std::string holder_;
  long long epoch_ = 0;  // our lease's, set once at open

  std::mutex write_mutex_;  // the write session, the caches below
  Connection write_;
  std::unordered_map<std::string, long long> keys_;      // service id -> key, committed
  std::unordered_map<std::string, long long> max_seqs_;  // service id -> highest stored seq
  bool resync_ = false;      // the caches above are to be read again (see Resync)
  bool after_loss_ = false;  // the next write may repeat one that was committed

  std::mutex read_mutex_;  // the read session
  Connection read_;

  std::mutex lease_mutex_;  // stopping_, for the lease thread
  std::condition_variable lease_wake_;
  bool stopping_ = false;
  Connection lease_;  // used by the lease thread only
  std::thread lease_thread_;

  std::atomic<uint64_t> sample_count_{0};
  std::atomic<uint64_t> event_count_{0};
};

}  // namespace
}  // namespace driftwatch::postgresql_plugin

DRIFTWATCH_PLUGIN(
    "postgresql", "1.1.0", DRIFTWATCH_NO_DETECTORS,
    DRIFTWATCH_STORAGES(
        driftwatch::sdk::StorageType<driftwatch::postgresql_plugin::PostgresStore>::Get()));
