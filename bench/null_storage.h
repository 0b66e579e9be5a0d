// A storage backend that stores nothing, for benchmarks that measure the engine without a disk
// (bench/memory_bench.cc, bench/metrics_scrape.cc). Opened with driftwatch::Store::Open.
#pragma once

#include <driftwatch/plugin.h>

#include <cstddef>
#include <cstdint>

namespace driftwatch::bench {

inline int null_store_handle = 0;

inline dw_type_status NullOpen(const dw_type_param*, size_t, void** store_out, dw_type_error*) {
  *store_out = &null_store_handle;
  return DW_STATUS_OK;
}
inline void NullClose(void*) {}
inline dw_type_status NullWrite(void*, const dw_type_write_batch*, dw_type_error*) {
  return DW_STATUS_OK;
}
inline dw_type_status NullScanServices(void*, dw_type_service_callback, void*, dw_type_error*) {
  return DW_STATUS_OK;
}
inline dw_type_status NullScanSamples(void*, const char*, uint64_t, dw_type_sample_callback, void*,
                                      dw_type_error*) {
  return DW_STATUS_OK;
}
inline dw_type_status NullQueryEvents(void*, const char*, uint32_t, dw_type_event_callback, void*,
                                      dw_type_error*) {
  return DW_STATUS_OK;
}
inline dw_type_status NullStats(void*, dw_type_storage_stats* stats, dw_type_error*) {
  stats->sample_count = 0;
  stats->event_count = 0;
  stats->size_bytes = 0;
  return DW_STATUS_OK;
}
inline dw_type_status NullPurge(void*, int64_t, int64_t, uint32_t, uint64_t* deleted,
                                dw_type_error*) {
  *deleted = 0;
  return DW_STATUS_OK;
}

inline const dw_type_storage kNullStorage = {
    sizeof(dw_type_storage),
    "null",
    "1.0.0",
    NullOpen,
    NullClose,
    NullWrite,
    NullScanServices,
    NullScanSamples,
    NullQueryEvents,
    NullStats,
    NullPurge,
    nullptr,  // on_forget: nothing stored, nothing to forget
    nullptr,  // on_scan_notifications: no outbox
    0,        // features: none, so the host writes no sample tags
};

}  // namespace driftwatch::bench
