/*
 * FROZEN: the DriftWatch plugin ABI header exactly as released in v1.0 (a verbatim copy of
 * sdk/include/driftwatch/plugin.h at 1.0). Never edit it: tests/sdk builds a plugin against it to
 * prove that plugins built for 1.0 keep loading in hosts with a later 1.x minor.
 */
/*
 * DriftWatch plugin ABI, version 1.
 *
 * This is the whole contract between the DriftWatch host and a plugin: plain C99, no other
 * dependency. A plugin is a shared library that exports one function, DW_PLUGIN_ENTRY_NAME,
 * returning a static descriptor of the detectors and storage backends it provides.
 *
 * Naming: dw_type_* are types; on_* members are what a plugin implements; the host never hands a
 * plugin a C++ type or lets an exception cross this boundary (the C++ layer in plugin.hpp turns
 * exceptions into a status and a message).
 *
 * Versioning (see docs/plugin-guide.md):
 *  - A plugin reports the ABI major and minor it was built with. The host loads it only when the
 *    majors are equal and the plugin's minor is <= the host's minor; otherwise it refuses the file
 *    with a message naming both versions, before calling anything else in it.
 *  - Minor versions only append: new members at the end of structs (every struct that crosses the
 *    boundary starts with its struct_size), new enum values, new optional function pointers.
 *  - Anything else (removing, reordering, changing a type or a meaning) bumps the major, and with
 * it the entry symbol's name, so an old plugin cannot even be found by a new host by mistake.
 *
 * Pointers: unless a comment says otherwise, a pointer passed to a plugin function is owned by the
 * caller and valid only for the duration of that call; the plugin copies what it wants to keep.
 */
#ifndef DRIFTWATCH_PLUGIN_H
#define DRIFTWATCH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DW_ABI_VERSION_MAJOR 1
#define DW_ABI_VERSION_MINOR 0

/* The one symbol a plugin exports; its name carries the ABI major. */
#define DW_PLUGIN_ENTRY_NAME driftwatch_plugin_v1
#define DW_PLUGIN_ENTRY_SYMBOL "driftwatch_plugin_v1"

#if defined(_WIN32)
#define DW_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DW_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Every fallible function returns one of these. Values are never renumbered. */
typedef enum dw_type_status {
  DW_STATUS_OK = 0,
  DW_STATUS_ERROR = 1,            /* anything else; the message says what */
  DW_STATUS_INVALID_ARGUMENT = 2, /* a parameter or input the plugin does not accept */
  DW_STATUS_BUFFER_TOO_SMALL = 3, /* an output buffer is too small; the needed size is reported */
  DW_STATUS_IO_ERROR = 4,         /* storage could not read or write (disk full, locked, ...) */
  DW_STATUS_CORRUPT = 5           /* stored or saved data is not what this plugin understands */
} dw_type_status;

#define DW_ERROR_MESSAGE_SIZE 256

/*
 * Filled by a plugin when it returns anything but DW_STATUS_OK.
 * OWNERSHIP: the host allocates it and sets message[0] = '\0' and param_index = -1 before each
 * call. The plugin writes a NUL-terminated message (truncated to fit) and, when a configuration
 * parameter is at fault, that parameter's index in the array it was given.
 */
typedef struct dw_type_error {
  char message[DW_ERROR_MESSAGE_SIZE];
  int32_t param_index;
} dw_type_error;

/*
 * One configuration parameter, as written in the YAML config (a scalar, as text).
 * OWNERSHIP: host; valid only during the call that receives it.
 */
typedef struct dw_type_param {
  const char* key;
  const char* value;
} dw_type_param;

/* ---------------------------------------------------------------------------------------------
 * Detectors
 *
 * A detector type is configured once (on_config_new, with its parameters), then the host creates
 * one small state per monitored service (on_state_new) and feeds it one scored sample at a time.
 * Threading: the host never calls two functions on the same state at once; calls on different
 * states may run concurrently on different threads, and share the config read-only.
 * ------------------------------------------------------------------------------------------- */

/* Trigger detectors run while a service is STABLE and may move it to DRIFT_DETECTED; a recovery
 * detector runs while it is DRIFT_DETECTED and may move it back to STABLE. */
typedef enum dw_type_detector_role {
  DW_DETECTOR_ROLE_TRIGGER = 1,
  DW_DETECTOR_ROLE_RECOVERY = 2
} dw_type_detector_role;

/* One sample, scored against the service's baseline. OWNERSHIP: host. */
typedef struct dw_type_observation {
  uint32_t struct_size;
  double value;         /* the detection metric (latency_ms by default) */
  double zscore;        /* (value - baseline mean) / baseline sigma, with the sigma floor applied */
  double abs_zscore;    /* |zscore| */
  int64_t timestamp_ms; /* the sample's timestamp, Unix epoch milliseconds (UTC) */
} dw_type_observation;

typedef enum dw_type_verdict_kind {
  DW_VERDICT_NONE = 0,     /* no opinion on this sample */
  DW_VERDICT_FIRE = 1,     /* trigger: the service has drifted */
  DW_VERDICT_RECOVERED = 2 /* recovery: the service is back to normal */
} dw_type_verdict_kind;

#define DW_VERDICT_REASON_SIZE 64
#define DW_VERDICT_KEY_SIZE 32
#define DW_VERDICT_MAX_FIELDS 8

/* A named number reported with a verdict, e.g. {"consecutive_count", 5}. */
typedef struct dw_type_verdict_field {
  char key[DW_VERDICT_KEY_SIZE];
  double value;
} dw_type_verdict_field;

/*
 * What a detector answers for one observation.
 * OWNERSHIP: host. Before each call the host sets struct_size, kind = DW_VERDICT_NONE,
 * reason[0] = '\0' and field_count = 0; the plugin changes them only when it has a verdict.
 * `reason` and the fields become the transition's metadata (and are stored with the event).
 */
typedef struct dw_type_verdict {
  uint32_t struct_size;
  int32_t kind; /* a dw_type_verdict_kind */
  char reason[DW_VERDICT_REASON_SIZE];
  uint32_t field_count;
  dw_type_verdict_field fields[DW_VERDICT_MAX_FIELDS];
} dw_type_verdict;

/*
 * A detector type. OWNERSHIP: plugin; static, valid while the library is loaded (the host never
 * unloads it). Every function pointer is required.
 */
typedef struct dw_type_detector {
  uint32_t struct_size;
  const char* name;    /* unique, e.g. "zscore_severe"; [a-z0-9_]+ */
  const char* version; /* the detector's own version, e.g. "1.0.0"; recorded with every event */
  int32_t role;        /* a dw_type_detector_role */

  /* Validates params and creates the shared, read-only configuration. An unknown key or a bad
   * value fails with DW_STATUS_INVALID_ARGUMENT and error->param_index set. On success stores the
   * new config in *config_out; the host destroys it with on_config_destroy. */
  dw_type_status (*on_config_new)(const dw_type_param* params, size_t param_count,
                                  void** config_out, dw_type_error* error);
  void (*on_config_destroy)(void* config);

  /* Creates the empty per-service state in *state_out; the host destroys it with
   * on_state_destroy. */
  dw_type_status (*on_state_new)(const void* config, void** state_out, dw_type_error* error);
  void (*on_state_destroy)(const void* config, void* state);

  /* Feeds one observation; writes a verdict only when the detector fires or recovers. */
  dw_type_status (*on_observe)(const void* config, void* state,
                               const dw_type_observation* observation, dw_type_verdict* verdict,
                               dw_type_error* error);

  /* Forgets everything observed: the state becomes as on_state_new made it. */
  void (*on_reset)(const void* config, void* state);

  /* Serialises the state into buffer (capacity bytes) and stores the size in *size_out. If the
   * buffer is too small, stores the needed size in *size_out and returns
   * DW_STATUS_BUFFER_TOO_SMALL. The bytes are the plugin's own format: it should version them. */
  dw_type_status (*on_state_save)(const void* config, const void* state, uint8_t* buffer,
                                  size_t capacity, size_t* size_out, dw_type_error* error);

  /* Replaces the state with one saved by on_state_save (possibly by an earlier run). Data it does
   * not understand fails with DW_STATUS_CORRUPT and leaves the state as it was. */
  dw_type_status (*on_state_restore)(const void* config, void* state, const uint8_t* data,
                                     size_t size, dw_type_error* error);
} dw_type_detector;

/* ---------------------------------------------------------------------------------------------
 * Storage backends
 *
 * The host writes from one thread (its storage writer) and reads from others; a backend must allow
 * reads concurrently with a write. Samples are the log the engine can be replayed from; a snapshot
 * is the host's serialised state of one service as of a sample sequence number (the bytes are the
 * host's format, opaque to the backend). A write batch is applied atomically: all or nothing.
 * ------------------------------------------------------------------------------------------- */

/* One accepted sample. seq numbers a service's samples 1, 2, 3, ... in processing order. */
typedef struct dw_type_stored_sample {
  const char* service_id;
  uint64_t seq;
  int64_t timestamp_ms;
  double latency_ms;
  double payload_kb; /* NaN when the sample carried none */
} dw_type_stored_sample;

/* One state transition. metadata_json is a JSON object. */
typedef struct dw_type_stored_event {
  const char* service_id;
  uint64_t seq; /* the sample that caused it (for a reset: the service's last seq) */
  int64_t timestamp_ms;
  const char* from_state;
  const char* to_state;
  const char* reason;
  const char* metadata_json;
} dw_type_stored_event;

/* A service's state as of sample last_seq (every sample with seq <= last_seq is reflected). */
typedef struct dw_type_stored_snapshot {
  const char* service_id;
  uint64_t last_seq;
  const uint8_t* data;
  size_t size;
} dw_type_stored_snapshot;

/* OWNERSHIP: host, valid during on_write only. */
typedef struct dw_type_write_batch {
  uint32_t struct_size;
  const dw_type_stored_sample* samples;
  size_t sample_count;
  const dw_type_stored_event* events;
  size_t event_count;
  const dw_type_stored_snapshot* snapshots; /* each replaces the service's previous snapshot */
  size_t snapshot_count;
} dw_type_write_batch;

typedef struct dw_type_storage_stats {
  uint32_t struct_size;
  uint64_t sample_count; /* telemetry rows stored */
  uint64_t event_count;  /* drift events stored */
  uint64_t size_bytes;   /* bytes the store occupies (0 if not meaningful) */
} dw_type_storage_stats;

/* Called once per service found in the store. snapshot is NULL when the service has samples but no
 * snapshot yet; max_seq is the highest sample seq stored for it (0 if none). Return 0 to go on,
 * anything else to stop the scan. OWNERSHIP: every pointer is the backend's, valid during the
 * call. */
typedef int (*dw_type_service_callback)(void* context, const char* service_id,
                                        const dw_type_stored_snapshot* snapshot, uint64_t max_seq);
typedef int (*dw_type_sample_callback)(void* context, const dw_type_stored_sample* sample);
typedef int (*dw_type_event_callback)(void* context, const dw_type_stored_event* event);

/*
 * A storage backend type. OWNERSHIP: plugin; static. Every function pointer is required.
 */
typedef struct dw_type_storage {
  uint32_t struct_size;
  const char* name; /* e.g. "sqlite" */
  const char* version;

  /* Opens (creating if needed) the store described by params (e.g. {"path", "x.db"}). A store it
   * cannot open, one that is not its format, or one from a newer schema fails with a message and
   * is left untouched. On success stores the handle in *store_out; close it with on_close. */
  dw_type_status (*on_open)(const dw_type_param* params, size_t param_count, void** store_out,
                            dw_type_error* error);
  /* Flushes and releases everything. */
  void (*on_close)(void* store);

  /* Applies a batch atomically and durably (as durable as the backend is). */
  dw_type_status (*on_write)(void* store, const dw_type_write_batch* batch, dw_type_error* error);

  /* Enumerates every stored service (see dw_type_service_callback). */
  dw_type_status (*on_scan_services)(void* store, dw_type_service_callback callback, void* context,
                                     dw_type_error* error);

  /* Enumerates a service's samples with seq > after_seq, in seq order. */
  dw_type_status (*on_scan_samples)(void* store, const char* service_id, uint64_t after_seq,
                                    dw_type_sample_callback callback, void* context,
                                    dw_type_error* error);

  /* Enumerates a service's events, newest first, at most limit of them. */
  dw_type_status (*on_query_events)(void* store, const char* service_id, uint32_t limit,
                                    dw_type_event_callback callback, void* context,
                                    dw_type_error* error);

  /* Fills stats (the host sets stats->struct_size). */
  dw_type_status (*on_stats)(void* store, dw_type_storage_stats* stats, dw_type_error* error);

  /* Deletes at most max_rows samples older than samples_before_ms and events older than
   * events_before_ms (epoch ms), and stores how many rows went in *deleted_out. The host calls it
   * repeatedly, in small steps, until it deletes nothing. */
  dw_type_status (*on_purge)(void* store, int64_t samples_before_ms, int64_t events_before_ms,
                             uint32_t max_rows, uint64_t* deleted_out, dw_type_error* error);
} dw_type_storage;

/* ---------------------------------------------------------------------------------------------
 * The plugin descriptor
 * ------------------------------------------------------------------------------------------- */

/* OWNERSHIP: plugin; static, valid while the library is loaded. */
typedef struct dw_type_plugin {
  uint32_t struct_size;
  uint16_t abi_major; /* DW_ABI_VERSION_MAJOR the plugin was built with */
  uint16_t abi_minor; /* DW_ABI_VERSION_MINOR the plugin was built with */
  const char* name;   /* e.g. "zscore_severe" */
  const char* version;
  const dw_type_detector* const* detectors; /* may be NULL when detector_count is 0 */
  size_t detector_count;
  const dw_type_storage* const* storages; /* may be NULL when storage_count is 0 */
  size_t storage_count;
} dw_type_plugin;

/* The entry point every plugin exports under the name DW_PLUGIN_ENTRY_SYMBOL. It must not fail and
 * must do no work beyond returning its static descriptor. */
typedef const dw_type_plugin* (*dw_type_plugin_entry)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DRIFTWATCH_PLUGIN_H */
