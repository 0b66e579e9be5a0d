// The host's Store and sample tags (ABI 1.3, "Sample tags" in plugin.h): only a backend that
// declares DW_STORAGE_FEATURE_SAMPLE_TAGS gets tags, beside the samples, and a tagged batch for
// one that does not is refused before anything of it is written. Against real plugins loaded from
// their .so files: the bundled memory and postgresql backends (neither keeps tags; postgresql on
// the tests' server) and fixtures/tag_keeper.cc, which keeps them and logs what it received.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage_test_support.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

constexpr int64_t kNow = 1767225600000;  // 2026-01-01T00:00:00Z

const std::string kTagKeeperPath =
    std::string(DRIFTWATCH_TEST_STORAGE_FIXTURE_DIR) + "/fixture_tag_keeper.so";
// Endpoint series of the two services, as the engine names them.
const std::string kSeriesA = std::string(kServiceA) + "#GET /cart";
const std::string kSeriesB = std::string(kServiceB) + "#POST /pay";

// The fixture backend that keeps sample tags, loaded once for the test program.
const dw_type_storage* TagKeeper() {
  static auto* registry = new PluginRegistry();
  if (registry->FindStorage("tag_keeper") == nullptr) {
    const Status status = registry->LoadFile(kTagKeeperPath);
    EXPECT_TRUE(status.ok()) << status.message();
  }
  return registry->FindStorage("tag_keeper");
}

// What the fixture's on_write received since its store was opened, one line per call.
std::string TagKeeperLog() {
  void* library = dlopen(kTagKeeperPath.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (library == nullptr) {
    ADD_FAILURE() << kTagKeeperPath << " is not loaded";
    return "";
  }
  using LogFunction = const char* (*)();
  const auto log = reinterpret_cast<LogFunction>(dlsym(library, "fixture_tag_keeper_log"));
  std::string text = log != nullptr ? log() : "(no fixture_tag_keeper_log)";
  dlclose(library);
  return text;
}

std::unique_ptr<Store> OpenVtable(const dw_type_storage* vtable) {
  std::unique_ptr<Store> store;
  const Status status = Store::Open(vtable, {{"path", "unused"}}, &store);
  EXPECT_TRUE(status.ok()) << status.message();
  return store;
}

StoredSample Tagged(StoredSample sample, const std::string& series, uint64_t seq) {
  sample.tag_series = std::make_shared<const std::string>(series);
  sample.tag_seq = seq;
  return sample;
}

// ---- Backends without the feature
// ----------------------------------------------------------------

class UntaggedBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenStore(GetParam(), dir_.File("store.db"), &error);
    ASSERT_NE(store_, nullptr) << error;
  }

  TestDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(UntaggedBackendTest, KeepsNoSampleTags) { EXPECT_FALSE(store_->KeepsSampleTags()); }

// Refused whole, even the forget that would come first, naming the backend; the same batch
// without its tag goes in.
TEST_P(UntaggedBackendTest, ATaggedBatchIsRefusedAndNothingOfItWritten) {
  ASSERT_TRUE(store_->CanForget());
  WriteBatch before;
  before.samples = Samples(kServiceB, 1, 2, kNow);
  ASSERT_TRUE(store_->Write(before).ok());

  WriteBatch batch;
  batch.forgotten = {kServiceB};
  batch.samples = Samples(kServiceA, 1, 3, kNow);
  batch.samples[1] = Tagged(batch.samples[1], kSeriesA, 1);
  batch.events = {Event(kServiceA, 3, kNow + 3, "STABLE", "baseline_established")};
  batch.snapshots = {Snapshot(kServiceA, 3, "state")};
  const Status refused = store_->Write(batch);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), GetParam() + ": this storage backend keeps no sample tags");

  const std::vector<ScannedService> services = ReadServices(*store_);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].service_id, kServiceB);
  EXPECT_EQ(services[0].max_seq, 2u);
  EXPECT_TRUE(ReadSamples(*store_, kServiceA).empty());
  EXPECT_TRUE(ReadSamples(*store_, kSeriesA).empty());
  std::vector<StoredEvent> events;
  ASSERT_TRUE(store_->QueryEvents(kServiceA, 10, &events).ok());
  EXPECT_TRUE(events.empty());

  batch.samples[1].tag_series = nullptr;
  const Status written = store_->Write(batch);
  ASSERT_TRUE(written.ok()) << written.message();
  EXPECT_EQ(Seqs(ReadSamples(*store_, kServiceA)), Range(1, 3));
  EXPECT_TRUE(ReadSamples(*store_, kServiceB).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, UntaggedBackendTest, ::testing::Values("memory", "postgresql"),
                         BackendName);

// ---- A backend with the feature
// ------------------------------------------------------------------

// The bit counts only inside the plugin's struct_size: a 1.2 plugin's struct ends before it.
TEST(SampleTagsTest, KeepsSampleTagsOnlyWhenTheBackendDeclaresIt) {
  const dw_type_storage* vtable = TagKeeper();
  ASSERT_NE(vtable, nullptr);
  EXPECT_EQ(vtable->features, DW_STORAGE_FEATURE_SAMPLE_TAGS);
  dw_type_storage v1_2 = *vtable;
  v1_2.struct_size = offsetof(dw_type_storage, features);
  dw_type_storage featureless = *vtable;
  featureless.features = 0;

  EXPECT_TRUE(OpenVtable(vtable)->KeepsSampleTags());
  EXPECT_FALSE(OpenVtable(&v1_2)->KeepsSampleTags());
  EXPECT_FALSE(OpenVtable(&featureless)->KeepsSampleTags());
}

// One tag per sample, in the samples' order, series and seq as given, NULL for an untagged sample;
// no array at all for a batch without tags. The series' scan then has the tagged samples.
TEST(SampleTagsTest, ABackendThatKeepsTagsGetsThemBesideTheSamples) {
  ASSERT_NE(TagKeeper(), nullptr);
  const std::unique_ptr<Store> store = OpenVtable(TagKeeper());
  WriteBatch batch;
  batch.samples = {Sample(kServiceA, 1, kNow, 10.0),
                   Tagged(Sample(kServiceA, 2, kNow + 1, 20.0), kSeriesA, 1),
                   Tagged(Sample(kServiceB, 1, kNow + 2, 30.0), kSeriesB, 7),
                   Tagged(Sample(kServiceA, 3, kNow + 3, 40.0), kSeriesA, 2)};
  const Status tagged = store->Write(batch);
  ASSERT_TRUE(tagged.ok()) << tagged.message();
  WriteBatch untagged;
  untagged.samples = {Sample(kServiceA, 4, kNow + 4, 50.0)};
  const Status plain = store->Write(untagged);
  ASSERT_TRUE(plain.ok()) << plain.message();

  const std::string a = kServiceA;
  const std::string b = kServiceB;
  EXPECT_EQ(TagKeeperLog(), "tagged: " + a + "#1 " + a + "#2>" + kSeriesA + "#1 " + b + "#1>" +
                                kSeriesB + "#7 " + a + "#3>" + kSeriesA + "#2\n" +
                                "untagged: " + a + "#4\n");

  const std::vector<StoredSample> series = ReadSamples(*store, kSeriesA);
  ASSERT_EQ(Seqs(series), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(series[0].timestamp_ms, kNow + 1);
  EXPECT_EQ(series[0].latency_ms, 20.0);
  EXPECT_EQ(series[1].timestamp_ms, kNow + 3);
  EXPECT_EQ(series[0].tag_series, nullptr);  // a scan's samples carry no tag
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 4));
}

// A batch appended after one forgets a series: the tags naming that series drop from the samples
// before it (which stay their services'), as forgetting after writing them would have deleted them.
TEST(SampleTagsTest, AppendingAForgetOfASeriesDropsTheTagsNamingIt) {
  WriteBatch merged;
  merged.samples = {Tagged(Sample(kServiceA, 1, kNow, 10.0), kSeriesA, 1),
                    Tagged(Sample(kServiceB, 1, kNow + 1, 20.0), kSeriesB, 1)};
  WriteBatch later;
  later.forgotten = {kSeriesA};
  later.samples = {Tagged(Sample(kServiceA, 2, kNow + 2, 30.0), kSeriesA, 1)};  // a new series
  merged.Append(std::move(later));

  ASSERT_EQ(merged.samples.size(), 3u);
  EXPECT_EQ(merged.samples[0].tag_series, nullptr);
  EXPECT_EQ(merged.samples[0].tag_seq, 0u);
  ASSERT_NE(merged.samples[1].tag_series, nullptr);
  EXPECT_EQ(*merged.samples[1].tag_series, kSeriesB);
  ASSERT_NE(merged.samples[2].tag_series, nullptr);
  EXPECT_EQ(*merged.samples[2].tag_series, kSeriesA);

  ASSERT_NE(TagKeeper(), nullptr);
  const std::unique_ptr<Store> store = OpenVtable(TagKeeper());
  const Status status = store->Write(merged);
  ASSERT_TRUE(status.ok()) << status.message();
  const std::vector<StoredSample> series = ReadSamples(*store, kSeriesA);
  ASSERT_EQ(Seqs(series), (std::vector<uint64_t>{1}));
  EXPECT_EQ(series[0].timestamp_ms, kNow + 2);
  EXPECT_EQ(Seqs(ReadSamples(*store, kServiceA)), Range(1, 2));
}

}  // namespace
}  // namespace driftwatch::testing
