// A small measuring tool (not a test: it asserts nothing about time): rows per second that the
// sqlite plugin's on_write takes at several batch sizes, and bytes per 10,000 stored samples.
//
//   build/tests/storage/sqlite_throughput [rows]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "storage_test_support.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

struct Result {
  double rows_per_second = 0;
  uint64_t bytes_per_10k = 0;
};

Result Measure(uint64_t rows, uint64_t batch_size, int services) {
  TestDir dir;
  const std::string path = dir.File("throughput.db");
  std::vector<std::string> ids;
  for (int i = 0; i < services; ++i) ids.push_back("service-" + std::to_string(i));
  Result result;
  {
    std::string error;
    auto store = OpenStore("sqlite", path, &error);
    if (store == nullptr) {
      std::fprintf(stderr, "%s\n", error.c_str());
      std::exit(1);
    }
    WriteBatch batch;
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t n = 0; n < rows; ++n) {
      const auto& id = ids[n % ids.size()];
      batch.samples.push_back(Sample(id.c_str(), n / ids.size() + 1, 1767225600000 + n * 100,
                                     150.0 + static_cast<double>(n % 1000) / 7.0, 2.45));
      if (batch.samples.size() == batch_size || n + 1 == rows) {
        const Status status = store->Write(batch);
        if (!status.ok()) {
          std::fprintf(stderr, "%s\n", status.message().c_str());
          std::exit(1);
        }
        batch.Clear();
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.rows_per_second = static_cast<double>(rows) / seconds;
  }
  result.bytes_per_10k = std::filesystem::file_size(path) * 10000 / rows;
  return result;
}

}  // namespace
}  // namespace driftwatch::testing

int main(int argc, char** argv) {
  using driftwatch::testing::Measure;
  const uint64_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  std::printf("%-28s %14s %16s\n", "on_write", "rows/s", "bytes/10k rows");
  // 2000: one 50 ms commit interval at 40k samples/s.
  for (const uint64_t batch : {1ULL, 100ULL, 1000ULL, 2000ULL, 10000ULL}) {
    const uint64_t n = batch == 1 ? std::min<uint64_t>(rows, 20000) : rows;
    for (const int services : {1, 100}) {
      const auto result = Measure(n, batch, services);
      std::printf("batch %-6llu services %-6d %14.0f %16llu\n",
                  static_cast<unsigned long long>(batch), services, result.rows_per_second,
                  static_cast<unsigned long long>(result.bytes_per_10k));
    }
  }
  return 0;
}
