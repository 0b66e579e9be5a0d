// libFuzzer target: the bytes DriftWatch reads back from its database, which a damaged or foreign
// file can make anything: a service's snapshot (core/monitor_snapshot), the baseline window inside
// it (BaselineWindow::Load), and the SQLite store's sample blocks and log rows
// (plugins/sqlite/sample_block). Each decoder must refuse what it cannot read, never crash or read
// past its input, and what it accepts must encode back to a form it reads the same way.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/baseline_window.h"
#include "core/monitor_snapshot.h"
#include "plugins/sqlite/sample_block.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

void CheckSnapshot(std::string_view bytes) {
  driftwatch::MonitorSnapshot snapshot;
  if (!driftwatch::DecodeSnapshot(bytes, &snapshot).ok()) return;
  std::string again;
  driftwatch::EncodeSnapshot(snapshot, &again);
  driftwatch::MonitorSnapshot reread;
  Require(driftwatch::DecodeSnapshot(again, &reread).ok());
  std::string third;
  driftwatch::EncodeSnapshot(reread, &third);
  Require(third == again);
}

void CheckWindow(std::string_view bytes) {
  driftwatch::BaselineWindow window(64);
  if (!window.Load(bytes)) return;
  Require(window.size() <= window.capacity());
  const std::vector<driftwatch::Sample> samples = window.Samples();
  Require(samples.size() == window.size());
  std::string saved;
  window.Save(&saved);
  driftwatch::BaselineWindow reloaded(64);
  Require(reloaded.Load(saved));
  Require(reloaded.size() == window.size());
  if (window.size() > 0) (void)window.Compute(0);
}

void CheckBlocks(std::string_view bytes) {
  namespace sqlite = driftwatch::sqlite_plugin;
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  std::vector<sqlite::LogEntry> entries;
  if (sqlite::DecodeLogRow(data, bytes.size(), &entries) == nullptr) {
    for (const sqlite::LogEntry& entry : entries) {
      Require(!entry.samples.empty() && entry.samples.size() <= sqlite::kMaxBlockSamples);
    }
  }
  if (bytes.size() < 2) return;
  // The first two bytes choose the block's count and last seq; the rest is its data.
  const int64_t count = 1 + data[0] % sqlite::kMaxBlockSamples;
  const int64_t last_seq = count + data[1];
  std::vector<sqlite::BlockSample> samples;
  if (sqlite::DecodeBlock(data + 2, bytes.size() - 2, last_seq, count, &samples) != nullptr) return;
  Require(static_cast<int64_t>(samples.size()) == count);
  sqlite::BlockEncoder encoder;
  encoder.Clear();
  for (const sqlite::BlockSample& sample : samples) {
    encoder.Add(sample.timestamp_ms, sample.latency_ms, sample.payload_kb, sample.tag_key,
                sample.tag_seq);
  }
  const std::vector<uint8_t>& encoded = encoder.Finish();
  std::vector<sqlite::BlockSample> again;
  Require(sqlite::DecodeBlock(encoded.data(), encoded.size(), last_seq, count, &again) == nullptr);
  Require(again.size() == samples.size());
  for (size_t i = 0; i < again.size(); ++i) {  // tags come back as they were read
    Require(again[i].tag_key == samples[i].tag_key && again[i].tag_seq == samples[i].tag_seq);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckSnapshot(bytes);
  CheckWindow(bytes);
  CheckBlocks(bytes);
  return 0;
}
