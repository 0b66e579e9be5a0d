// A small measuring tool (not a test: it asserts nothing about time): rows per second that the
// postgresql plugin's on_write commits, against a raw COPY of the same rows through libpq into a
// table of the same shape, one transaction per batch, interleaved in the same run.
//
//   build/bin/postgresql_throughput URL [rows]
// URL: a libpq URI (e.g. that of the tests' server: build/tests/postgres-server/url while the
// ctest fixture runs, or tests/postgres/postgres_server.sh start DIR).
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "storage_test_support.h"

namespace driftwatch::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  int service;
  uint64_t seq;
  int64_t timestamp_ms;
  double latency_ms;
  double payload_kb;
};

std::vector<Row> Rows(uint64_t count, int services) {
  std::vector<Row> rows;
  for (uint64_t n = 0; n < count; ++n) {
    rows.push_back({static_cast<int>(n % static_cast<uint64_t>(services)),
                    n / static_cast<uint64_t>(services) + 1,
                    1767225600000 + static_cast<int64_t>(n) * 100,
                    150.0 + static_cast<double>(n % 1000) / 7.0, 2.45});
  }
  return rows;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "postgresql_throughput: %s\n", why.c_str());
  std::exit(1);
}

double PluginRowsPerSecond(const std::string& url, const std::vector<Row>& rows, size_t batch_size,
                           int services, const std::string& ns) {
  std::unique_ptr<Store> store;
  const Status opened = Store::Open(StorageBackend("postgresql"),
                                    {{"path", "unused"}, {"url", url}, {"namespace", ns}}, &store);
  if (!opened.ok()) Die(opened.message());
  std::vector<ServiceId> ids;
  for (int i = 0; i < services; ++i) {
    ids.push_back(std::make_shared<const std::string>("service-" + std::to_string(i)));
  }
  WriteBatch batch;
  const auto start = Clock::now();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    batch.samples.push_back({ids[static_cast<size_t>(row.service)], row.seq, row.timestamp_ms,
                             row.latency_ms, row.payload_kb});
    if (batch.samples.size() == batch_size || i + 1 == rows.size()) {
      const Status status = store->Write(batch);
      if (!status.ok()) Die(status.message());
      batch.Clear();
    }
  }
  return static_cast<double>(rows.size()) /
         std::chrono::duration<double>(Clock::now() - start).count();
}

void Exec(PGconn* connection, const std::string& sql) {
  PGresult* result = PQexec(connection, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_COPY_IN) {
    Die(sql + ": " + PQresultErrorMessage(result));
  }
  PQclear(result);
}

// The reference: COPY ... FROM STDIN in text format, the fastest way into PostgreSQL through
// libpq, into a table like the plugin's samples table (same key and columns).
double CopyRowsPerSecond(const std::string& url, const std::vector<Row>& rows, size_t batch_size,
                         const std::string& table) {
  PGconn* connection = PQconnectdb(url.c_str());
  if (PQstatus(connection) != CONNECTION_OK) Die(PQerrorMessage(connection));
  Exec(connection, "CREATE TABLE " + table +
                       " (service_key bigint NOT NULL, seq bigint NOT NULL, timestamp_ms bigint "
                       "NOT NULL, latency_ms float8 NOT NULL, payload_kb float8, PRIMARY KEY "
                       "(service_key, seq))");
  std::string data;
  const auto start = Clock::now();
  for (size_t first = 0; first < rows.size(); first += batch_size) {
    const size_t last = std::min(rows.size(), first + batch_size);
    data.clear();
    char line[160];
    for (size_t i = first; i < last; ++i) {
      const Row& row = rows[i];
      const int length =
          std::snprintf(line, sizeof line, "%d\t%llu\t%lld\t%.17g\t%.17g\n", row.service,
                        static_cast<unsigned long long>(row.seq),
                        static_cast<long long>(row.timestamp_ms), row.latency_ms, row.payload_kb);
      data.append(line, static_cast<size_t>(length));
    }
    Exec(connection, "BEGIN");
    Exec(connection, "COPY " + table + " FROM STDIN");
    if (PQputCopyData(connection, data.data(), static_cast<int>(data.size())) != 1 ||
        PQputCopyEnd(connection, nullptr) != 1) {
      Die(PQerrorMessage(connection));
    }
    PGresult* result = PQgetResult(connection);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) Die(PQresultErrorMessage(result));
    PQclear(result);
    while ((result = PQgetResult(connection)) != nullptr) PQclear(result);
    Exec(connection, "COMMIT");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Exec(connection, "DROP TABLE " + table);
  PQfinish(connection);
  return static_cast<double>(rows.size()) / seconds;
}

}  // namespace
}  // namespace driftwatch::testing

int main(int argc, char** argv) {
  using namespace driftwatch::testing;  // NOLINT(google-build-using-namespace): a tool's main
  if (argc < 2) Die("usage: postgresql_throughput URL [rows]");
  const std::string url = argv[1];
  const uint64_t count = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 200000;
  std::printf("%-26s %14s %14s %8s\n", "batch, services", "on_write/s", "raw COPY/s", "ratio");
  int run = 0;
  // 2000: one 50 ms commit interval at 40k samples/s.
  for (const size_t batch : {100UL, 1000UL, 2000UL, 10000UL}) {
    for (const int services : {1, 100}) {
      const auto rows = Rows(count, services);
      const std::string suffix = std::to_string(getpid()) + "_" + std::to_string(++run);
      // Interleaved, so that both see the same machine.
      const double copy = CopyRowsPerSecond(url, rows, batch, "public.copy_reference_" + suffix);
      const double plugin = PluginRowsPerSecond(url, rows, batch, services, "throughput_" + suffix);
      std::printf("batch %-6zu services %-6d %14.0f %14.0f %7.0f%%\n", batch, services, plugin,
                  copy, 100.0 * plugin / copy);
    }
  }
  return 0;
}
