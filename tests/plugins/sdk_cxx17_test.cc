// The C++ layer (plugin.hpp) as a plugin author on C++17 uses it: a small detector and a small
// storage class, turned into C vtables by DetectorType<> and StorageType<>, called as the host
// calls them. Built with CXX_STANDARD 17 (see CMakeLists.txt).
#include <gtest/gtest.h>
#include <driftwatch/plugin.hpp>

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#if __cplusplus != 201703L
#error "this test must be compiled as C++17"
#endif

namespace {

using driftwatch::sdk::DetectorType;
using driftwatch::sdk::Params;
using driftwatch::sdk::StateReader;
using driftwatch::sdk::StateWriter;
using driftwatch::sdk::StorageError;
using driftwatch::sdk::StorageType;
using driftwatch::sdk::Verdict;

// Fires when `count` observations in a row have |z| above `threshold`.
class RunDetector {
 public:
  static constexpr const char* kName = "run";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_TRIGGER;
  struct Config {
    double threshold;
    uint32_t count;
  };
  static Config Configure(Params& params) {
    return {params.Double("threshold", 3.0, 0.0, 10.0), params.UInt("count", 2, 1, 100)};
  }
  explicit RunDetector(const Config&) {}
  void Observe(const Config& config, const dw_type_observation& obs, Verdict& verdict) {
    run_ = obs.abs_zscore > config.threshold ? run_ + 1 : 0;
    if (run_ >= config.count) verdict.Fire("run_reached", {{"run", static_cast<double>(run_)}});
  }
  void Reset(const Config&) { run_ = 0; }
  void Save(StateWriter& out) const { out.Put(run_); }
  void Restore(const Config&, StateReader& in) { run_ = in.Get<uint32_t>(); }

 private:
  uint32_t run_ = 0;
};

// Counts observations; its Reset throws while `failing_resets` is above zero (and counts down).
class FlakyReset {
 public:
  static constexpr const char* kName = "flaky_reset";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr dw_type_detector_role kRole = DW_DETECTOR_ROLE_RECOVERY;
  static inline int failing_resets = 0;
  struct Config {};
  static Config Configure(Params&) { return {}; }
  explicit FlakyReset(const Config&) {}
  void Observe(const Config&, const dw_type_observation&, Verdict&) { ++observed_; }
  void Reset(const Config&) {
    if (failing_resets > 0) {
      --failing_resets;
      throw std::runtime_error("reset exploded");
    }
    observed_ = 0;
  }
  void Save(StateWriter& out) const { out.Put(observed_); }
  void Restore(const Config&, StateReader& in) { observed_ = in.Get<uint32_t>(); }

 private:
  uint32_t observed_ = 0;
};

// Keeps sample counts per service in memory; "fail" as the path makes Open fail with an I/O error.
// Its Open leaves Params::Finish() to the SDK; `open` counts the instances alive.
class CountingStore {
 public:
  static constexpr const char* kName = "counting";
  static constexpr const char* kVersion = "1.0.0";
  static inline int open = 0;
  static CountingStore* Open(Params& params) {
    if (params.String("path", "") == "fail") throw StorageError(DW_STATUS_IO_ERROR, "disk on fire");
    return new CountingStore();
  }
  CountingStore() { ++open; }
  ~CountingStore() { --open; }
  CountingStore(const CountingStore&) = delete;
  CountingStore& operator=(const CountingStore&) = delete;
  void Write(const dw_type_write_batch& batch) {
    for (size_t i = 0; i < batch.sample_count; ++i) ++samples_[batch.samples[i].service_id];
  }
  void ScanServices(dw_type_service_callback callback, void* context) {
    for (const auto& [service, count] : samples_)
      callback(context, service.c_str(), nullptr, count);
  }
  void ScanSamples(const char*, uint64_t, dw_type_sample_callback, void*) {}
  void QueryEvents(const char*, uint32_t, dw_type_event_callback, void*) {}
  void Stats(dw_type_storage_stats& stats) {
    stats.sample_count = 0;
    for (const auto& entry : samples_) stats.sample_count += entry.second;
  }
  uint64_t Purge(int64_t, int64_t, uint32_t) { throw std::runtime_error("purge not supported"); }

 private:
  std::map<std::string, uint64_t> samples_;
};

// The same, able to forget a service (the optional Forget of ABI 1.1).
class ForgettingStore : public CountingStore {
 public:
  static constexpr const char* kName = "forgetting";
  static ForgettingStore* Open(Params&) { return new ForgettingStore(); }
  void Forget(const char* service_id) {
    if (std::string(service_id) == "locked") throw StorageError(DW_STATUS_IO_ERROR, "locked");
    forgotten.emplace_back(service_id);
  }
  std::vector<std::string> forgotten;
};

// The same with a notification outbox (the optional ScanNotifications of ABI 1.2): it answers
// every scan with one row that echoes the arguments.
class OutboxStore : public CountingStore {
 public:
  static constexpr const char* kName = "outbox";
  static OutboxStore* Open(Params&) { return new OutboxStore(); }
  void ScanNotifications(const char* target, int32_t state, uint32_t limit, bool newest_first,
                         dw_type_notification_callback callback, void* context) {
    if (std::string(target) == "broken") throw StorageError(DW_STATUS_IO_ERROR, "outbox broken");
    const std::string body = std::to_string(limit) + (newest_first ? " newest" : " oldest");
    const dw_type_notification row = {"a/1", target, "a", body.c_str(), 1, state, 2, 3, ""};
    callback(context, &row);
  }
};

// The same, keeping sample tags (ABI 1.3): it records each tag it is given.
class TaggingStore : public CountingStore {
 public:
  static constexpr const char* kName = "tagging";
  static constexpr uint32_t kFeatures = DW_STORAGE_FEATURE_SAMPLE_TAGS;
  static TaggingStore* Open(Params&) { return new TaggingStore(); }
  void Write(const dw_type_write_batch& batch) {
    CountingStore::Write(batch);
    for (size_t i = 0; batch.sample_tags != nullptr && i < batch.sample_count; ++i) {
      if (batch.sample_tags[i].series_id != nullptr) {
        tags.push_back(std::string(batch.sample_tags[i].series_id) + "#" +
                       std::to_string(batch.sample_tags[i].seq));
      }
    }
  }
  std::vector<std::string> tags;
};

dw_type_error NewError() {
  dw_type_error error{};
  error.param_index = -1;
  return error;
}

TEST(SdkCxx17Test, DetectorTypeConfiguresObservesSavesAndRestores) {
  const dw_type_detector* vtable = DetectorType<RunDetector>::Get();
  EXPECT_EQ(vtable->struct_size, sizeof(dw_type_detector));
  EXPECT_STREQ(vtable->name, "run");

  dw_type_param params[] = {{"count", "2"}, {"threshold", "1.5"}};
  void* config = nullptr;
  dw_type_error error = NewError();
  ASSERT_EQ(vtable->on_config_new(params, 2, &config, &error), DW_STATUS_OK) << error.message;
  void* state = nullptr;
  ASSERT_EQ(vtable->on_state_new(config, &state, &error), DW_STATUS_OK);

  dw_type_observation observation{sizeof(dw_type_observation), 10.0, 2.0, 2.0, 0};
  dw_type_verdict verdict{};
  ASSERT_EQ(vtable->on_observe(config, state, &observation, &verdict, &error), DW_STATUS_OK);
  EXPECT_EQ(verdict.kind, DW_VERDICT_NONE);

  // Saved after one high observation; the saved state fires on the next one.
  uint8_t buffer[16];
  size_t size = 0;
  EXPECT_EQ(vtable->on_state_save(config, state, buffer, 1, &size, &error),
            DW_STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(size, sizeof(uint32_t));
  ASSERT_EQ(vtable->on_state_save(config, state, buffer, sizeof buffer, &size, &error),
            DW_STATUS_OK);
  vtable->on_reset(config, state);
  ASSERT_EQ(vtable->on_state_restore(config, state, buffer, size, &error), DW_STATUS_OK);
  // Bytes it did not save are refused and leave the state as it was.
  EXPECT_EQ(vtable->on_state_restore(config, state, buffer, size + 1, &error), DW_STATUS_CORRUPT);
  EXPECT_STREQ(error.message, "saved detector state has trailing bytes");

  ASSERT_EQ(vtable->on_observe(config, state, &observation, &verdict, &error), DW_STATUS_OK);
  EXPECT_EQ(verdict.kind, DW_VERDICT_FIRE);
  EXPECT_STREQ(verdict.reason, "run_reached");
  ASSERT_EQ(verdict.field_count, 1u);
  EXPECT_STREQ(verdict.fields[0].key, "run");
  EXPECT_EQ(verdict.fields[0].value, 2.0);

  vtable->on_state_destroy(config, state);
  vtable->on_config_destroy(config);
}

TEST(SdkCxx17Test, DetectorTypeReportsTheBadParameterAndItsIndex) {
  const dw_type_detector* vtable = DetectorType<RunDetector>::Get();
  void* config = nullptr;

  dw_type_param out_of_range[] = {{"threshold", "1"}, {"count", "1000"}};
  dw_type_error error = NewError();
  EXPECT_EQ(vtable->on_config_new(out_of_range, 2, &config, &error), DW_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(error.param_index, 1);
  EXPECT_STREQ(error.message, "1000 is out of range [1, 100]");  // the host names the key

  dw_type_param not_a_number[] = {{"threshold", "abc"}};
  error = NewError();
  EXPECT_EQ(vtable->on_config_new(not_a_number, 1, &config, &error), DW_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(error.param_index, 0);
  EXPECT_STREQ(error.message, "expected a number, got 'abc'");

  dw_type_param unknown[] = {{"count", "3"}, {"treshold", "2"}};
  error = NewError();
  EXPECT_EQ(vtable->on_config_new(unknown, 2, &config, &error), DW_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(error.param_index, 1);
  EXPECT_STREQ(error.message, "unknown parameter 'treshold'");
  EXPECT_EQ(config, nullptr);
}

// The observation count FlakyReset saved, or the failure's message.
std::string SavedCount(const dw_type_detector* vtable, void* config, void* state) {
  uint8_t buffer[sizeof(uint32_t)];
  size_t size = 0;
  dw_type_error error = NewError();
  const dw_type_status status =
      vtable->on_state_save(config, state, buffer, sizeof buffer, &size, &error);
  if (status != DW_STATUS_OK) return std::to_string(status) + " " + error.message;
  uint32_t count = 0;
  std::memcpy(&count, buffer, sizeof count);
  return std::to_string(count);
}

// on_reset cannot return a status: an exception in Reset is reported by the calls after it. Save
// fails until the state is reset; the next Observe fails too, resetting it again first.
TEST(SdkCxx17Test, AnExceptionInResetIsReportedByTheNextCalls) {
  const dw_type_detector* vtable = DetectorType<FlakyReset>::Get();
  void* config = nullptr;
  void* state = nullptr;
  dw_type_error error = NewError();
  ASSERT_EQ(vtable->on_config_new(nullptr, 0, &config, &error), DW_STATUS_OK);
  ASSERT_EQ(vtable->on_state_new(config, &state, &error), DW_STATUS_OK);
  dw_type_observation observation{sizeof(dw_type_observation), 10.0, 0.0, 0.0, 0};
  dw_type_verdict verdict{};
  const auto observe = [&] {
    error = NewError();
    const dw_type_status status = vtable->on_observe(config, state, &observation, &verdict, &error);
    return status == DW_STATUS_OK ? std::string("ok")
                                  : std::to_string(status) + " " + error.message;
  };
  ASSERT_EQ(observe(), "ok");
  ASSERT_EQ(observe(), "ok");

  FlakyReset::failing_resets = 1;
  vtable->on_reset(config, state);
  EXPECT_EQ(SavedCount(vtable, config, state), "1 reset failed: reset exploded");
  EXPECT_EQ(SavedCount(vtable, config, state), "1 reset failed: reset exploded");
  EXPECT_EQ(observe(), "1 reset failed: reset exploded");  // and resets again, which works
  EXPECT_EQ(SavedCount(vtable, config, state), "0");
  EXPECT_EQ(observe(), "ok");
  EXPECT_EQ(SavedCount(vtable, config, state), "1");

  // Failing again on the retry: reported again, until a reset works.
  FlakyReset::failing_resets = 2;
  vtable->on_reset(config, state);
  EXPECT_EQ(observe(), "1 reset failed: reset exploded");
  EXPECT_EQ(observe(), "1 reset failed: reset exploded");
  EXPECT_EQ(observe(), "ok");
  EXPECT_EQ(SavedCount(vtable, config, state), "1");

  // A restored state is whole: the failure is forgotten.
  const uint32_t saved = 5;
  FlakyReset::failing_resets = 1;
  vtable->on_reset(config, state);
  ASSERT_EQ(vtable->on_state_restore(config, state, reinterpret_cast<const uint8_t*>(&saved),
                                     sizeof saved, &error),
            DW_STATUS_OK);
  EXPECT_EQ(SavedCount(vtable, config, state), "5");
  EXPECT_EQ(observe(), "ok");

  vtable->on_state_destroy(config, state);
  vtable->on_config_destroy(config);
}

int CountService(void* context, const char* service_id, const dw_type_stored_snapshot* snapshot,
                 uint64_t max_seq) {
  auto* seen = static_cast<std::vector<std::string>*>(context);
  seen->push_back(std::string(service_id) + "=" + std::to_string(max_seq) +
                  (snapshot == nullptr ? "" : "+snapshot"));
  return 0;
}

TEST(SdkCxx17Test, StorageTypeTurnsExceptionsIntoStatuses) {
  const dw_type_storage* vtable = StorageType<CountingStore>::Get();
  EXPECT_EQ(vtable->struct_size, sizeof(dw_type_storage));

  dw_type_param failing[] = {{"path", "fail"}};
  void* store = nullptr;
  dw_type_error error = NewError();
  EXPECT_EQ(vtable->on_open(failing, 1, &store, &error), DW_STATUS_IO_ERROR);
  EXPECT_STREQ(error.message, "disk on fire");

  dw_type_param good[] = {{"path", "memory"}};
  ASSERT_EQ(vtable->on_open(good, 1, &store, &error), DW_STATUS_OK);
  dw_type_stored_sample samples[] = {
      {"a", 1, 0, 1.0, 0.0}, {"b", 1, 0, 1.0, 0.0}, {"a", 2, 0, 1.0, 0.0}};
  dw_type_write_batch batch{};
  batch.struct_size = sizeof batch;
  batch.samples = samples;
  batch.sample_count = 3;
  ASSERT_EQ(vtable->on_write(store, &batch, &error), DW_STATUS_OK);

  std::vector<std::string> seen;
  ASSERT_EQ(vtable->on_scan_services(store, &CountService, &seen, &error), DW_STATUS_OK);
  EXPECT_EQ(seen, (std::vector<std::string>{"a=2", "b=1"}));
  dw_type_storage_stats stats{};
  stats.struct_size = sizeof stats;
  ASSERT_EQ(vtable->on_stats(store, &stats, &error), DW_STATUS_OK);
  EXPECT_EQ(stats.sample_count, 3u);

  uint64_t deleted = 99;
  EXPECT_EQ(vtable->on_purge(store, 0, 0, 10, &deleted, &error), DW_STATUS_ERROR);
  EXPECT_STREQ(error.message, "purge not supported");
  vtable->on_close(store);
  EXPECT_EQ(CountingStore::open, 0);
}

// Forget is optional: a class without it has no on_forget, so the host knows the store cannot.
TEST(SdkCxx17Test, StorageTypeOffersOnForgetOnlyWhenTheClassCanForget) {
  EXPECT_EQ(StorageType<CountingStore>::Get()->on_forget, nullptr);
  const dw_type_storage* vtable = StorageType<ForgettingStore>::Get();
  ASSERT_NE(vtable->on_forget, nullptr);
  void* store = nullptr;
  dw_type_error error = NewError();
  ASSERT_EQ(vtable->on_open(nullptr, 0, &store, &error), DW_STATUS_OK);
  EXPECT_EQ(vtable->on_forget(store, "a", &error), DW_STATUS_OK);
  EXPECT_EQ(vtable->on_forget(store, "locked", &error), DW_STATUS_IO_ERROR);
  EXPECT_STREQ(error.message, "locked");
  EXPECT_EQ(static_cast<ForgettingStore*>(store)->forgotten, (std::vector<std::string>{"a"}));
  vtable->on_close(store);
}

// ScanNotifications is optional too: a class without it has no on_scan_notifications, so the host
// knows the store keeps no outbox.
TEST(SdkCxx17Test, StorageTypeOffersOnScanNotificationsOnlyWhenTheClassHasAnOutbox) {
  EXPECT_EQ(StorageType<CountingStore>::Get()->on_scan_notifications, nullptr);
  EXPECT_EQ(StorageType<ForgettingStore>::Get()->on_scan_notifications, nullptr);
  const dw_type_storage* vtable = StorageType<OutboxStore>::Get();
  ASSERT_NE(vtable->on_scan_notifications, nullptr);
  void* store = nullptr;
  dw_type_error error = NewError();
  ASSERT_EQ(vtable->on_open(nullptr, 0, &store, &error), DW_STATUS_OK);
  std::vector<std::string> seen;
  const auto visit = [](void* context, const dw_type_notification* row) {
    static_cast<std::vector<std::string>*>(context)->push_back(
        std::string(row->target) + " " + std::to_string(row->state) + " " + row->body);
    return 0;
  };
  EXPECT_EQ(vtable->on_scan_notifications(store, "hook", DW_NOTIFICATION_FAILED, 5, 1, visit, &seen,
                                          &error),
            DW_STATUS_OK);
  EXPECT_EQ(seen, (std::vector<std::string>{"hook 3 5 newest"}));
  EXPECT_EQ(vtable->on_scan_notifications(store, "broken", 0, 0, 0, visit, &seen, &error),
            DW_STATUS_IO_ERROR);
  EXPECT_STREQ(error.message, "outbox broken");
  vtable->on_close(store);
}

// kFeatures is optional: a class without it has features 0, so the host sends it no sample tags.
TEST(SdkCxx17Test, StorageTypeReportsTheFeaturesTheClassDeclares) {
  EXPECT_EQ(StorageType<CountingStore>::Get()->features, 0u);
  EXPECT_EQ(StorageType<OutboxStore>::Get()->features, 0u);
  const dw_type_storage* vtable = StorageType<TaggingStore>::Get();
  EXPECT_EQ(vtable->features, DW_STORAGE_FEATURE_SAMPLE_TAGS);
  TaggingStore store;  // as on_open would make it
  const dw_type_stored_sample samples[] = {{"a", 1, 0, 1.0, 0.0}, {"a", 2, 0, 1.0, 0.0}};
  const dw_type_sample_tag tags[] = {{nullptr, 0}, {"a#x", 1}};
  dw_type_write_batch batch{};
  batch.struct_size = sizeof batch;
  batch.samples = samples;
  batch.sample_count = 2;
  batch.sample_tags = tags;
  dw_type_error error = NewError();
  EXPECT_EQ(vtable->on_write(&store, &batch, &error), DW_STATUS_OK) << error.message;
  EXPECT_EQ(store.tags, (std::vector<std::string>{"a#x#1"}));
}

// As for a detector's configuration: a parameter the backend never asked for is refused, naming
// it, and the store Open made is closed again.
TEST(SdkCxx17Test, StorageTypeRefusesAnUnknownParameter) {
  const dw_type_storage* vtable = StorageType<CountingStore>::Get();
  dw_type_param params[] = {{"path", "memory"}, {"pth", "memory"}};
  void* store = nullptr;
  dw_type_error error = NewError();
  EXPECT_EQ(vtable->on_open(params, 2, &store, &error), DW_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(error.param_index, 1);
  EXPECT_STREQ(error.message, "unknown parameter 'pth'");
  EXPECT_EQ(store, nullptr);
  EXPECT_EQ(CountingStore::open, 0);
}

}  // namespace

// The export macro itself compiles as C++17 too (an executable may export it harmlessly).
DRIFTWATCH_PLUGIN("cxx17_plugin", "1.0.0", DRIFTWATCH_DETECTORS(DetectorType<RunDetector>::Get()),
                  DRIFTWATCH_STORAGES(StorageType<CountingStore>::Get()));

TEST(SdkCxx17Test, ExportMacroDescribesThePlugin) {
  const dw_type_plugin* plugin = DW_PLUGIN_ENTRY_NAME();
  EXPECT_EQ(plugin->struct_size, sizeof(dw_type_plugin));
  EXPECT_EQ(plugin->abi_major, DW_ABI_VERSION_MAJOR);
  EXPECT_EQ(plugin->abi_minor, DW_ABI_VERSION_MINOR);
  EXPECT_STREQ(plugin->name, "cxx17_plugin");
  ASSERT_EQ(plugin->detector_count, 1u);
  ASSERT_EQ(plugin->storage_count, 1u);
  EXPECT_EQ(plugin->detectors[0], DetectorType<RunDetector>::Get());
  EXPECT_EQ(plugin->storages[0], StorageType<CountingStore>::Get());
}
