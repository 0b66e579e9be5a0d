// The v1 ABI, frozen. A plugin built against an older plugin.h must keep working, so the layout of
// every struct that crosses the boundary and every enum value are written down here: an accidental
// change (a reordered member, a changed type, a renumbered value) fails the build. A minor version
// may only append members, which changes a sizeof: update that one number, and nothing else.
#include <driftwatch/plugin.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "core/plugin_loader.h"

namespace driftwatch {
namespace {

#if defined(__x86_64__) && defined(__linux__)
#define FROZEN(type, member, offset) static_assert(offsetof(type, member) == (offset), #member)

static_assert(DW_ABI_VERSION_MAJOR == 1);
static_assert(std::string_view(DW_PLUGIN_ENTRY_SYMBOL) == "driftwatch_plugin_v1");
static_assert(DW_ERROR_MESSAGE_SIZE == 256 && DW_VERDICT_REASON_SIZE == 64);
static_assert(DW_VERDICT_KEY_SIZE == 32 && DW_VERDICT_MAX_FIELDS == 8);

static_assert(DW_STATUS_OK == 0 && DW_STATUS_ERROR == 1 && DW_STATUS_INVALID_ARGUMENT == 2);
static_assert(DW_STATUS_BUFFER_TOO_SMALL == 3 && DW_STATUS_IO_ERROR == 4 && DW_STATUS_CORRUPT == 5);
static_assert(DW_DETECTOR_ROLE_TRIGGER == 1 && DW_DETECTOR_ROLE_RECOVERY == 2);
static_assert(DW_VERDICT_NONE == 0 && DW_VERDICT_FIRE == 1 && DW_VERDICT_RECOVERED == 2);

static_assert(sizeof(dw_type_error) == 260);
FROZEN(dw_type_error, message, 0);
FROZEN(dw_type_error, param_index, 256);

static_assert(sizeof(dw_type_param) == 16);
FROZEN(dw_type_param, key, 0);
FROZEN(dw_type_param, value, 8);

static_assert(sizeof(dw_type_observation) == 40);
FROZEN(dw_type_observation, struct_size, 0);
FROZEN(dw_type_observation, value, 8);
FROZEN(dw_type_observation, zscore, 16);
FROZEN(dw_type_observation, abs_zscore, 24);
FROZEN(dw_type_observation, timestamp_ms, 32);

static_assert(sizeof(dw_type_verdict_field) == 40);
FROZEN(dw_type_verdict_field, key, 0);
FROZEN(dw_type_verdict_field, value, 32);

static_assert(sizeof(dw_type_verdict) == 400);
FROZEN(dw_type_verdict, struct_size, 0);
FROZEN(dw_type_verdict, kind, 4);
FROZEN(dw_type_verdict, reason, 8);
FROZEN(dw_type_verdict, field_count, 72);
FROZEN(dw_type_verdict, fields, 80);

static_assert(sizeof(dw_type_detector) == 96);
FROZEN(dw_type_detector, struct_size, 0);
FROZEN(dw_type_detector, name, 8);
FROZEN(dw_type_detector, version, 16);
FROZEN(dw_type_detector, role, 24);
FROZEN(dw_type_detector, on_config_new, 32);
FROZEN(dw_type_detector, on_config_destroy, 40);
FROZEN(dw_type_detector, on_state_new, 48);
FROZEN(dw_type_detector, on_state_destroy, 56);
FROZEN(dw_type_detector, on_observe, 64);
FROZEN(dw_type_detector, on_reset, 72);
FROZEN(dw_type_detector, on_state_save, 80);
FROZEN(dw_type_detector, on_state_restore, 88);

static_assert(sizeof(dw_type_stored_sample) == 40);
FROZEN(dw_type_stored_sample, service_id, 0);
FROZEN(dw_type_stored_sample, seq, 8);
FROZEN(dw_type_stored_sample, timestamp_ms, 16);
FROZEN(dw_type_stored_sample, latency_ms, 24);
FROZEN(dw_type_stored_sample, payload_kb, 32);

static_assert(sizeof(dw_type_sample_tag) == 16);  // 1.3
FROZEN(dw_type_sample_tag, series_id, 0);
FROZEN(dw_type_sample_tag, seq, 8);

static_assert(sizeof(dw_type_stored_event) == 56);
FROZEN(dw_type_stored_event, service_id, 0);
FROZEN(dw_type_stored_event, seq, 8);
FROZEN(dw_type_stored_event, timestamp_ms, 16);
FROZEN(dw_type_stored_event, from_state, 24);
FROZEN(dw_type_stored_event, to_state, 32);
FROZEN(dw_type_stored_event, reason, 40);
FROZEN(dw_type_stored_event, metadata_json, 48);

static_assert(sizeof(dw_type_stored_snapshot) == 32);
FROZEN(dw_type_stored_snapshot, service_id, 0);
FROZEN(dw_type_stored_snapshot, last_seq, 8);
FROZEN(dw_type_stored_snapshot, data, 16);
FROZEN(dw_type_stored_snapshot, size, 24);

static_assert(sizeof(dw_type_notification) == 64);  // 1.2
FROZEN(dw_type_notification, id, 0);
FROZEN(dw_type_notification, target, 8);
FROZEN(dw_type_notification, service_id, 16);
FROZEN(dw_type_notification, body, 24);
FROZEN(dw_type_notification, created_ms, 32);
FROZEN(dw_type_notification, state, 40);
FROZEN(dw_type_notification, attempts, 44);
FROZEN(dw_type_notification, updated_ms, 48);
FROZEN(dw_type_notification, last_error, 56);
static_assert(DW_NOTIFICATION_PENDING == 1 && DW_NOTIFICATION_DELIVERED == 2 &&
              DW_NOTIFICATION_FAILED == 3);

// 56 in 1.0 and 1.1; 1.2 appended the notifications (88), 1.3 sample_tags.
static_assert(sizeof(dw_type_write_batch) == 96);
FROZEN(dw_type_write_batch, struct_size, 0);
FROZEN(dw_type_write_batch, samples, 8);
FROZEN(dw_type_write_batch, sample_count, 16);
FROZEN(dw_type_write_batch, events, 24);
FROZEN(dw_type_write_batch, event_count, 32);
FROZEN(dw_type_write_batch, snapshots, 40);
FROZEN(dw_type_write_batch, snapshot_count, 48);
FROZEN(dw_type_write_batch, notifications, 56);
FROZEN(dw_type_write_batch, notification_count, 64);
FROZEN(dw_type_write_batch, notification_updates, 72);
FROZEN(dw_type_write_batch, notification_update_count, 80);
FROZEN(dw_type_write_batch, sample_tags, 88);

static_assert(sizeof(dw_type_storage_stats) == 32);
FROZEN(dw_type_storage_stats, struct_size, 0);
FROZEN(dw_type_storage_stats, sample_count, 8);
FROZEN(dw_type_storage_stats, event_count, 16);
FROZEN(dw_type_storage_stats, size_bytes, 24);

// 88 in 1.0; 1.1 appended on_forget (96), 1.2 the outbox (104), 1.3 features (and padding).
static_assert(sizeof(dw_type_storage) == 112);
FROZEN(dw_type_storage, struct_size, 0);
FROZEN(dw_type_storage, name, 8);
FROZEN(dw_type_storage, version, 16);
FROZEN(dw_type_storage, on_open, 24);
FROZEN(dw_type_storage, on_close, 32);
FROZEN(dw_type_storage, on_write, 40);
FROZEN(dw_type_storage, on_scan_services, 48);
FROZEN(dw_type_storage, on_scan_samples, 56);
FROZEN(dw_type_storage, on_query_events, 64);
FROZEN(dw_type_storage, on_stats, 72);
FROZEN(dw_type_storage, on_purge, 80);
FROZEN(dw_type_storage, on_forget, 88);
FROZEN(dw_type_storage, on_scan_notifications, 96);
FROZEN(dw_type_storage, features, 104);
static_assert(DW_STORAGE_FEATURE_SAMPLE_TAGS == 1u);

static_assert(sizeof(dw_type_plugin) == 56);
FROZEN(dw_type_plugin, struct_size, 0);
FROZEN(dw_type_plugin, abi_major, 4);
FROZEN(dw_type_plugin, abi_minor, 6);
FROZEN(dw_type_plugin, name, 8);
FROZEN(dw_type_plugin, version, 16);
FROZEN(dw_type_plugin, detectors, 24);
FROZEN(dw_type_plugin, detector_count, 32);
FROZEN(dw_type_plugin, storages, 40);
FROZEN(dw_type_plugin, storage_count, 48);

#undef FROZEN
#endif

// A plugin built with the SDK reports the sizes its plugin.h had; the host reads them back.
TEST(AbiLayoutTest, ASdkBuiltPluginReportsTheSizesOfThisHeader) {
  PluginRegistry registry;
  const std::string path = std::string(DRIFTWATCH_TEST_FIXTURE_DIR) + "/fixture_detectors.so";
  ASSERT_TRUE(registry.LoadFile(path).ok());
  const dw_type_detector* detector = registry.FindDetector("fixture_trigger");
  ASSERT_NE(detector, nullptr);
  EXPECT_EQ(detector->struct_size, sizeof(dw_type_detector));
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].abi_major, DW_ABI_VERSION_MAJOR);
  EXPECT_EQ(registry.plugins()[0].abi_minor, DW_ABI_VERSION_MINOR);
}

}  // namespace
}  // namespace driftwatch
