// The postgresql backend's own promises, on the tests' real PostgreSQL server (ctest fixture
// `postgres`): what is committed survives a reopen and a SIGKILL; one instance owns a namespace,
// a second is refused or stands by, and an owner frozen past its lease can never write again; a
// lost connection is reconnected; an older schema is migrated; a schema that is not ours, or
// newer, is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_support.h"
#include "tests/support/child_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int kExitFenced = 75;          // plugins/postgresql: the namespace was taken over

std::string ConnInfo() {
  std::ifstream file(std::string(DRIFTWATCH_TEST_POSTGRES_DIR) + "/conninfo");
  std::string conninfo;
  std::getline(file, conninfo);
  return conninfo;
}

// The test server through libpq, to look at (and tamper with) what the plugin keeps.
class Server {
 public:
  Server() : connection_(PQconnectdb(ConnInfo().c_str())) {
    EXPECT_EQ(PQstatus(connection_), CONNECTION_OK) << PQerrorMessage(connection_);
  }
  ~Server() { PQfinish(connection_); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The first column of the first row, as text ("" on failure).
  std::string Value(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    std::string value;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      value = PQgetvalue(result, 0, 0);
    } else {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(result);
    }
    PQclear(result);
    return value;
  }
  // The first column of the first row, as a number (-1 on failure).
  long long Count(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    long long value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      value = std::atoll(PQgetvalue(result, 0, 0));
    }
    EXPECT_NE(value, -1) << sql << ": " << PQresultErrorMessage(result);
    PQclear(result);
    return value;
  }
  void Run(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK)
        << sql << ": " << PQresultErrorMessage(result);
    PQclear(result);
  }

 private:
  PGconn* connection_;
};

std::unique_ptr<Store> OpenNamespace(const std::string& ns, std::vector<Param> extra,
                                     std::string* error = nullptr) {
  std::vector<Param> params = {{"path", "unused.db"}, {"url", PostgresUrl()}, {"namespace", ns}};
  params.insert(params.end(), extra.begin(), extra.end());
  std::unique_ptr<Store> store;
  const Status status = Store::Open(StorageBackend("postgresql"), params, &store);
  if (error != nullptr) *error = status.message();
  return status.ok() ? std::move(store) : nullptr;
}

std::string UniqueNamespace(const char* what) {
  static int counter = 0;
  return std::string("ns_") + what + "_" + std::to_string(getpid()) + "_" +
         std::to_string(++counter);
}

WriteBatch Round(uint64_t first, uint64_t last) {
  WriteBatch batch;
  batch.samples = Samples(kServiceA, first, last, kNow);
  batch.snapshots = {Snapshot(kServiceA, last, "state " + std::to_string(last))};
  return batch;
}

TEST(PostgresqlStoreTest, ReopenFindsEverythingCommitted) {
  const std::string ns = UniqueNamespace("reopen");
  {
    std::string error;
    auto store = OpenNamespace(ns, {}, &error);
    ASSERT_NE(store, nullptr) << error;
    WriteBatch batch = Round(1, 300);
    batch.events = {Event(kServiceA, 100, kNow + 100, "STABLE", "baseline_established")};
    ASSERT_TRUE(store->Write(batch).ok());
    ASSERT_TRUE(store->Write(Round(301, 310)).ok());
  }
  std::string error;
  auto store = OpenNamespace(ns, {}, &error);  // at once: a clean close hands the lease back
  ASSERT_NE(store, nullptr) << error;
  const auto samples = ReadSamples(*store, kServiceA);
  ASSERT_EQ(Seqs(samples), Range(1, 310));
  const auto written = Samples(kServiceA, 1, 310, kNow);
  for (size_t i = 0; i < samples.size(); ++i) {
    ASSERT_TRUE(SameDouble(samples[i].latency_ms, written[i].latency_ms)) << i;
    ASSERT_TRUE(SameDouble(samples[i].payload_kb, written[i].payload_kb)) << i;
  }
  const auto services = ReadServices(*store);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].snapshot_data, "state 310");
  EXPECT_EQ(services[0].max_seq, 310u);
  EXPECT_EQ(ReadStats(*store).sample_count, 310u);
  EXPECT_EQ(ReadStats(*store).event_count, 1u);
  EXPECT_GT(ReadStats(*store).size_bytes, 0u);
  // The seqs it knows after a reopen still guard against writing one twice.
  const Status again = store->Write(Round(310, 311));
  EXPECT_EQ(again.kind(), Status::Kind::kInvalidArgument) << again.message();
}

TEST(PostgresqlStoreTest, ASecondInstanceIsRefusedNamingTheNamespaceAndTheHolder) {
  const std::string ns = UniqueNamespace("owned");
  auto owner = OpenNamespace(ns, {});
  ASSERT_NE(owner, nullptr);
  std::string error;
  EXPECT_EQ(OpenNamespace(ns, {}, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("namespace '" + ns + "' is owned by"));
  EXPECT_THAT(error, HasSubstr(":" + std::to_string(getpid())));  // host:pid of the holder
  EXPECT_THAT(error, HasSubstr("storage.standby"));
  // Another namespace on the same server is another store.
  EXPECT_NE(OpenNamespace(UniqueNamespace("other"), {}), nullptr);
}

TEST(PostgresqlStoreTest, AStandbyTakesOverWhenTheOwnerHandsTheNamespaceOver) {
  const std::string ns = UniqueNamespace("standby");
  auto owner = OpenNamespace(ns, {{"lease_seconds", "1"}});
  ASSERT_NE(owner, nullptr);
  ASSERT_TRUE(owner->Write(Round(1, 10)).ok());
  std::unique_ptr<Store> standby;
  std::thread waiting([&] { standby = OpenNamespace(ns, {{"standby", "true"}}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the lease: it renews
  EXPECT_EQ(standby, nullptr) << "took over a live owner";
  owner.reset();
  waiting.join();
  ASSERT_NE(standby, nullptr);
  EXPECT_EQ(Seqs(ReadSamples(*standby, kServiceA)), Range(1, 10));
  EXPECT_TRUE(standby->Write(Round(11, 12)).ok());  // resumes from the stored state
}

// A live lease whose holder is this machine's process id, but a process that started at another
// time, is a dead process's (PID 1 of a restarted container): taken over at once. Another
// machine's live lease is not.
TEST(PostgresqlStoreTest, ALeaseOfAGoneProcessOfThisMachineIsTakenOverAtOnce) {
  const std::string ns = UniqueNamespace("reused");
  ASSERT_NE(OpenNamespace(ns, {}), nullptr);  // creates the namespace, hands the lease back
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  Server server;
  server.Run("UPDATE " + ns + ".lease SET holder = '" + host + ":" + std::to_string(getpid()) +
             ":1', expires_at = now() + interval '1 hour'");
  std::string error;
  EXPECT_NE(OpenNamespace(ns, {}, &error), nullptr) << error;
  server.Run("UPDATE " + ns +
             ".lease SET holder = 'elsewhere.example:1:1', expires_at = now() + interval '1 hour'");
  EXPECT_EQ(OpenNamespace(ns, {}, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("owned by elsewhere.example:1:1"));
}

// The owner (a child process) is frozen with SIGSTOP past its lease; a standby takes over and
// writes; woken with SIGCONT, the old owner's commit must be refused and it must exit, so that
// what the new owner wrote is all there is, nothing applied twice.
TEST(PostgresqlStoreTest, AnOwnerFrozenPastItsLeaseCanNeverWriteAgain) {
  const std::string ns = UniqueNamespace("fenced");
  ASSERT_NE(StorageBackend("postgresql"), nullptr);  // loaded before fork, so the child has it
  const std::string url = PostgresUrl();
  int ready[2];
  int go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    close(go[1]);
    auto store = OpenNamespace(ns, {{"lease_seconds", "1"}});
    if (store == nullptr || !store->Write(Round(1, 10)).ok()) _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    char byte = 0;
    if (read(go[0], &byte, 1) != 1) _exit(4);  // after SIGSTOP and SIGCONT
    WriteBatch late = Round(11, 20);
    late.notifications = {Notification(kServiceA, 20, "hook", kNow)};  // fenced like the rest
    const Status status = store->Write(late);
    _exit(status.ok() ? 0 : 5);  // 75 comes from the plugin itself
  }
  close(ready[1]);
  close(go[0]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the owner never wrote";
  ASSERT_EQ(kill(child, SIGSTOP), 0);

  const auto started = std::chrono::steady_clock::now();
  std::string error;
  auto standby = OpenNamespace(ns, {{"standby", "true"}}, &error);
  ASSERT_NE(standby, nullptr) << error;
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300))
      << "took over before the frozen owner's lease ran out";
  ASSERT_EQ(Seqs(ReadSamples(*standby, kServiceA)), Range(1, 10));
  ASSERT_TRUE(standby->Write(Round(11, 15)).ok());

  signal(SIGPIPE,
         SIG_IGN);  // the woken owner may exit, fenced by its lease thread, before it reads
  ASSERT_EQ(kill(child, SIGCONT), 0);
  (void)!write(go[1], "g", 1);
  int child_status = 0;
  ASSERT_EQ(waitpid(child, &child_status, 0), child);
  ASSERT_TRUE(WIFEXITED(child_status));
  EXPECT_EQ(WEXITSTATUS(child_status), kExitFenced);

  const auto samples = ReadSamples(*standby, kServiceA);
  EXPECT_EQ(Seqs(samples), Range(1, 15));
  EXPECT_EQ(ReadServices(*standby).at(0).snapshot_data, "state 15");
  EXPECT_TRUE(ReadNotifications(*standby).empty());
  EXPECT_TRUE(standby->Write(Round(16, 16)).ok());  // still the owner
}

// A child writes until it is killed with SIGKILL, telling the parent each batch it committed;
// reopening at once (its holder is a process of this machine that is gone) finds every one.
TEST(PostgresqlStoreTest, HardKillLosesNothingCommitted) {
  const std::string ns = UniqueNamespace("crash");
  ASSERT_NE(StorageBackend("postgresql"), nullptr);
  ASSERT_FALSE(PostgresUrl().empty());
  int committed[2];
  ASSERT_EQ(pipe(committed), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(committed[0]);
    auto store = OpenNamespace(ns, {});
    if (store == nullptr) _exit(2);
    constexpr uint64_t kPerRound = 50;
    for (uint64_t round = 0;; ++round) {
      WriteBatch batch;
      const uint64_t first = round * kPerRound + 1;
      const uint64_t last = first + kPerRound - 1;
      for (const char* id : {kServiceA, kServiceB}) {
        const auto samples = Samples(id, first, last, kNow);
        batch.samples.insert(batch.samples.end(), samples.begin(), samples.end());
        batch.snapshots.push_back(Snapshot(id, last, "s" + std::to_string(last)));
      }
      if (!store->Write(batch).ok()) _exit(3);
      if (write(committed[1], &last, sizeof last) != sizeof last) _exit(4);
    }
  }
  close(committed[1]);
  uint64_t last_committed = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(read(committed[0], &last_committed, sizeof last_committed),
              static_cast<ssize_t>(sizeof last_committed));
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int child_status = 0;
  ASSERT_EQ(waitpid(child, &child_status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(child_status)) << "child exited with " << WEXITSTATUS(child_status);
  uint64_t more = 0;  // what it reported after the 20th, before it died
  while (read(committed[0], &more, sizeof more) == static_cast<ssize_t>(sizeof more)) {
    last_committed = more;
  }
  close(committed[0]);

  std::string error;
  auto store = OpenNamespace(ns, {}, &error);
  ASSERT_NE(store, nullptr) << error;
  for (const ScannedService& service : ReadServices(*store)) {
    SCOPED_TRACE(service.service_id);
    const auto samples = ReadSamples(*store, service.service_id);
    ASSERT_GE(samples.size(), last_committed);
    EXPECT_EQ(Seqs(samples), Range(1, samples.size()));  // no hole, no torn batch
    EXPECT_EQ(service.snapshot_data, "s" + std::to_string(service.max_seq));
  }
}

TEST(PostgresqlStoreTest, ALostConnectionIsReconnected) {
  const std::string ns = UniqueNamespace("lost");
  auto store = OpenNamespace(ns, {});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Round(1, 10)).ok());
  Server server;
  EXPECT_GE(server.Count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                         "application_name = 'driftwatch " +
                         ns + "'"),
            1);
  // The host retries a failed write with what came since; the batch goes in whole, once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Status status = store->Write(Round(11, 20));
  int failures = 0;
  while (!status.ok() && std::chrono::steady_clock::now() < deadline) {
    EXPECT_EQ(status.kind(), Status::Kind::kIoError) << status.message();  // not refused data
    ++failures;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    status = store->Write(Round(11, 20));
  }
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_GE(failures, 1) << "the write on the killed connection cannot have succeeded";
  std::vector<StoredSample> samples;
  for (int attempt = 0; attempt < 100; ++attempt) {  // the read session reconnects too
    samples.clear();
    if (store->ScanSamples(kServiceA, 0, [&](const StoredSample& s) { samples.push_back(s); })
            .ok()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Seqs(samples), Range(1, 20));
}

// A COMMIT whose answer the lost connection swallowed may have gone through: the host retries
// the batch (with what came since), and what of it is stored must not be stored twice.
TEST(PostgresqlStoreTest, ABatchRetriedAfterALostCommitIsNotAppliedTwice) {
  const std::string ns = UniqueNamespace("retry");
  auto store = OpenNamespace(ns, {});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Round(1, 10)).ok());
  Server server;
  server.Count(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
      "application_name = 'driftwatch " +
      ns + "'");
  WriteBatch lost = Round(11, 20);
  lost.events = {Event(kServiceA, 20, kNow + 20, "DRIFT_DETECTED", "x")};
  lost.notifications = {Notification(kServiceA, 20, "hook", kNow + 20)};
  ASSERT_FALSE(store->Write(lost).ok());  // on the cut connection
  // As if its COMMIT had reached the server before the connection broke:
  server.Run("INSERT INTO " + ns + ".samples SELECT service_key, g, g, 1.0, NULL FROM " + ns +
             ".services, generate_series(11, 20) g");
  server.Run("INSERT INTO " + ns +
             ".events (service_key, seq, timestamp_ms, from_state, to_state, reason, "
             "metadata_json) SELECT service_key, 20, " +
             std::to_string(kNow + 20) +
             ", 'STABLE', 'DRIFT_DETECTED', 'x', '{\"reason\":\"x\"}' FROM " + ns + ".services");
  server.Run("INSERT INTO " + ns +
             ".notifications (id, target, service_key, body, created_ms, state, attempts, "
             "updated_ms, last_error) SELECT '" +
             lost.notifications[0].id + "', 'hook', service_key, '" + lost.notifications[0].body +
             "', " + std::to_string(kNow + 20) + ", 1, 0, " + std::to_string(kNow + 20) +
             ", '' FROM " + ns + ".services");
  WriteBatch retry = lost;
  const WriteBatch since = Round(21, 25);
  retry.samples.insert(retry.samples.end(), since.samples.begin(), since.samples.end());
  retry.snapshots = since.snapshots;
  Status status = store->Write(retry);
  for (int attempt = 0; !status.ok() && attempt < 100; ++attempt) {
    ASSERT_EQ(status.kind(), Status::Kind::kIoError) << status.message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    status = store->Write(retry);
  }
  ASSERT_TRUE(status.ok()) << status.message();
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &events).ok());
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 25));
  EXPECT_EQ(ReadStats(*store).sample_count, 25u);
  EXPECT_EQ(ReadStats(*store).event_count, 1u);
  EXPECT_EQ(ReadServices(*store).at(0).snapshot_data, "state 25");
  EXPECT_EQ(Fields(ReadNotifications(*store)), Fields(lost.notifications));
}

// The samples go in by COPY: a row the server refuses (here a (service, seq) stored behind the
// plugin's back, which its own seq check cannot know of) refuses the whole batch, snapshot and
// event included, and the same connection then takes the next commit.
TEST(PostgresqlStoreTest, ASampleTheServerRefusesRefusesTheBatchAndTheNextCommitGoesThrough) {
  const std::string ns = UniqueNamespace("copy_refused");
  auto store = OpenNamespace(ns, {});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Round(1, 10)).ok());
  Server server;
  server.Run("INSERT INTO " + ns + ".samples SELECT service_key, 15, 15, 1.0, NULL FROM " + ns +
             ".services");
  WriteBatch refused = Round(11, 20);
  refused.events = {Event(kServiceA, 20, kNow + 20, "DRIFT_DETECTED", "x")};
  const Status status = store->Write(refused);
  EXPECT_EQ(status.kind(), Status::Kind::kInvalidArgument) << status.message();
  EXPECT_THAT(status.message(), HasSubstr("duplicate key")) << status.message();
  EXPECT_EQ(server.Count("SELECT count(*) FROM " + ns + ".samples"), 11);  // 1-10 and ours
  EXPECT_EQ(server.Count("SELECT count(*) FROM " + ns + ".events"), 0);
  EXPECT_EQ(ReadServices(*store).at(0).snapshot_data, "state 10");

  server.Run("DELETE FROM " + ns + ".samples WHERE seq = 15");
  ASSERT_TRUE(store->Write(refused).ok());
  ASSERT_TRUE(store->Write(Round(21, 2000)).ok());
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 2000));
  EXPECT_EQ(ReadStats(*store).sample_count, 2000u);
  EXPECT_EQ(ReadServices(*store).at(0).snapshot_data, "state 2000");
}

// The tables, columns and indexes of a namespace, without its name.
std::string SchemaOf(Server& server, const std::string& ns) {
  return server.Value(
             "SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || "
             "is_nullable, ', ' ORDER BY table_name, ordinal_position) FROM "
             "information_schema.columns WHERE table_schema = '" +
             ns + "'") +
         "; " +
         server.Value(
             "SELECT string_agg(replace(indexdef, schemaname || '.', ''), ', ' ORDER BY "
             "indexname) FROM pg_indexes WHERE schemaname = '" +
             ns + "'");
}

// A namespace as schema version 1 made it (frozen in tests/fixtures/postgresql), with a sample, an
// event and a snapshot, opens as version 2 with what it held; it then has the same tables as a
// new namespace, and an outbox.
TEST(PostgresqlStoreTest, MigratesASchemaV1Namespace) {
  Server server;
  const std::string ns = UniqueNamespace("v1");
  std::string v1 = ReadFile(std::string(DRIFTWATCH_POSTGRESQL_FIXTURE_DIR) + "/schema_v1.sql");
  for (size_t at = v1.find('@'); at != std::string::npos; at = v1.find('@', at + 1)) {
    v1.replace(at, 1, ns);
  }
  server.Run("CREATE SCHEMA " + ns + "; " + v1);
  server.Run("INSERT INTO " + ns + ".services (service_id) VALUES ('" + kServiceA + "'); " +
             "INSERT INTO " + ns + ".samples SELECT service_key, 1, " + std::to_string(kNow) +
             ", 2.5, NULL FROM " + ns + ".services; INSERT INTO " + ns +
             ".events (service_key, seq, timestamp_ms, from_state, to_state, reason, "
             "metadata_json) SELECT service_key, 1, 0, 'STABLE', 'DRIFT_DETECTED', 'x', '{}' "
             "FROM " +
             ns + ".services; INSERT INTO " + ns +
             ".snapshots SELECT service_key, 1, '\\x0102' FROM " + ns + ".services");

  std::string error;
  auto store = OpenNamespace(ns, {}, &error);
  ASSERT_NE(store, nullptr) << error;
  EXPECT_EQ(server.Count("SELECT version FROM " + ns + ".schema_info"), 2);
  const auto samples = ReadSamples(*store, kServiceA);
  ASSERT_EQ(Seqs(samples), Range(1, 1));
  EXPECT_EQ(samples[0].latency_ms, 2.5);
  EXPECT_EQ(ReadServices(*store).at(0).snapshot_data, std::string("\x01\x02", 2));
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store->QueryEvents(kServiceA, 10, &events).ok());
  EXPECT_EQ(events.size(), 1u);
  WriteBatch batch;
  batch.samples = Samples(kServiceA, 2, 2, kNow);
  batch.notifications = {Notification(kServiceA, 2, "hook", kNow)};
  ASSERT_TRUE(store->Write(batch).ok());
  EXPECT_EQ(Fields(ReadNotifications(*store)), Fields(batch.notifications));

  const std::string fresh = UniqueNamespace("fresh");
  ASSERT_NE(OpenNamespace(fresh, {}), nullptr);
  EXPECT_EQ(SchemaOf(server, ns), SchemaOf(server, fresh));
  EXPECT_NE(SchemaOf(server, ns).find("notifications.last_error text NO"), std::string::npos);
}

TEST(PostgresqlStoreTest, ASchemaThatIsNotOursOrNewerIsRefusedUntouched) {
  Server server;
  const std::string foreign = UniqueNamespace("foreign");
  server.Run("CREATE SCHEMA " + foreign);
  server.Run("CREATE TABLE " + foreign + ".orders (id integer)");
  std::string error;
  EXPECT_EQ(OpenNamespace(foreign, {}, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("not DriftWatch's"));
  EXPECT_EQ(server.Count("SELECT count(*) FROM pg_tables WHERE schemaname = '" + foreign + "'"), 1);

  const std::string newer = UniqueNamespace("newer");
  ASSERT_NE(OpenNamespace(newer, {}), nullptr);
  server.Run("UPDATE " + newer + ".schema_info SET version = 99");
  EXPECT_EQ(OpenNamespace(newer, {}, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("schema version 99, newer than this plugin's 2"));
}

TEST(PostgresqlStoreTest, BadParametersAreRefused) {
  std::string error;
  std::unique_ptr<Store> store;
  EXPECT_FALSE(Store::Open(StorageBackend("postgresql"), {{"path", "x"}}, &store).ok());
  EXPECT_EQ(OpenNamespace("Robert'); DROP TABLE x;--", {}, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("not a plain schema name"));
  EXPECT_EQ(OpenNamespace("pg_catalog", {}, &error), nullptr);  // PostgreSQL's own
  EXPECT_THAT(error, HasSubstr("not starting with pg_"));
  EXPECT_EQ(OpenNamespace(UniqueNamespace("p"), {{"standby", "maybe"}}, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("standby"));
  const Status unreachable = Store::Open(
      StorageBackend("postgresql"),
      {{"path", "x"}, {"url", "postgresql://nobody@127.0.0.1:1/none"}, {"namespace", "n"}}, &store);
  EXPECT_FALSE(unreachable.ok());
  EXPECT_THAT(unreachable.message(), HasSubstr("cannot connect to PostgreSQL"));
}

}  // namespace
}  // namespace driftwatch::testing
