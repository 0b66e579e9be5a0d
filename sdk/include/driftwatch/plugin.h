/*
 * DriftWatch plugin ABI, version 1.3 (1.1 added dw_type_storage.on_forget; 1.2 the notification
 * outbox: dw_type_write_batch's notification arrays and dw_type_storage.on_scan_notifications;
 * 1.3 sample tags: dw_type_sample_tag, dw_type_write_batch.sample_tags and
 * dw_type_storage.features).
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
 * Strings are NUL-terminated UTF-8.
 *
 * Errors: a function that can fail returns a dw_type_status and, when it is not DW_STATUS_OK,
 * describes the failure in the dw_type_error it was given. Functions that return nothing (the
 * destroy functions, on_reset, on_close) cannot tell the host anything: each says below what it
 * must do instead. No function may let an exception, a longjmp or a signal escape into the host.
 */
#ifndef DRIFTWATCH_PLUGIN_H
#define DRIFTWATCH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. Guarded only so that a test can build a plugin or a host
 * that claims another version (e.g. -DDW_ABI_VERSION_MINOR=1, to see a host refuse a newer
 * plugin): a real plugin never defines them, or the host would trust a layout it does not have. */
#ifndef DW_ABI_VERSION_MAJOR
#define DW_ABI_VERSION_MAJOR 1
#endif
#ifndef DW_ABI_VERSION_MINOR
#define DW_ABI_VERSION_MINOR 3
#endif

/* The one symbol a plugin exports; its name carries the ABI major. */
#define DW_PLUGIN_ENTRY_NAME driftwatch_plugin_v1
#define DW_PLUGIN_ENTRY_SYMBOL "driftwatch_plugin_v1"

#if defined(_WIN32)
#define DW_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DW_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Every fallible function returns one of these. Values are never renumbered; the host takes any
 * value but DW_STATUS_OK as a failure, so a later minor may add some. */
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
 * call; never NULL. The plugin writes a NUL-terminated message (truncated to fit) and, when a
 * configuration parameter is at fault, that parameter's index in the array it was given. The host
 * terminates message itself before reading it, and shows "failed with status N" for an empty one.
 * The message says what went wrong, not where: the host prefixes the detector's or backend's name,
 * and, for param_index >= 0, the config file, line and key. So do not start it with your own name
 * or the parameter's key (a host drops such a prefix rather than show it twice).
 */
typedef struct dw_type_error {
  char message[DW_ERROR_MESSAGE_SIZE];
  int32_t param_index;
} dw_type_error;

/*
 * One configuration parameter, as written in the YAML config (a scalar, as text: `14.0` arrives as
 * "14.0"). Keys are unique within one call. OWNERSHIP: host; key and value are never NULL and are
 * valid only during the call that receives them: copy what you keep.
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
 * states may run concurrently on different threads, and share the config read-only. One state may
 * be called from different threads over its life (one at a time): keep nothing thread-local.
 * on_observe runs while the host holds a lock other services wait on: no I/O, no sleeping.
 * ------------------------------------------------------------------------------------------- */

/* Trigger detectors run while a service is STABLE and may move it to DRIFT_DETECTED; a recovery
 * detector runs while it is DRIFT_DETECTED and may move it back to STABLE. Any other value in
 * dw_type_detector.role makes the host refuse the plugin. */
typedef enum dw_type_detector_role {
  DW_DETECTOR_ROLE_TRIGGER = 1,
  DW_DETECTOR_ROLE_RECOVERY = 2
} dw_type_detector_role;

/* One sample, scored against the service's baseline. OWNERSHIP: host; valid during on_observe
 * only. struct_size is the host's: never smaller than the struct this header declares. */
typedef struct dw_type_observation {
  uint32_t struct_size;
  double value;         /* the sample's latency_ms: the metric a service is judged on */
  double zscore;        /* (value - baseline mean) / baseline sigma, with the sigma floor applied */
  double abs_zscore;    /* |zscore| */
  int64_t timestamp_ms; /* the sample's timestamp, Unix epoch milliseconds (UTC) */
} dw_type_observation;

/* What a detector concluded from one observation; see dw_type_verdict. */
typedef enum dw_type_verdict_kind {
  DW_VERDICT_NONE = 0,     /* no opinion on this sample */
  DW_VERDICT_FIRE = 1,     /* trigger: the service has drifted */
  DW_VERDICT_RECOVERED = 2 /* recovery: the service is back to normal */
} dw_type_verdict_kind;

#define DW_VERDICT_REASON_SIZE 64
#define DW_VERDICT_KEY_SIZE 32
#define DW_VERDICT_MAX_FIELDS 8

/* A named number reported with a verdict, e.g. {"consecutive_count", 5}. OWNERSHIP: host, inside
 * dw_type_verdict. key is NUL-terminated and cut to fit; the host drops a field named "reason",
 * "detector" or "detector_version" (its own keys in the event's metadata). A value that is not
 * finite is stored as JSON null. */
typedef struct dw_type_verdict_field {
  char key[DW_VERDICT_KEY_SIZE];
  double value;
} dw_type_verdict_field;

/*
 * What a detector answers for one observation.
 * OWNERSHIP: host; valid during on_observe only. Before each call the host sets struct_size,
 * kind = DW_VERDICT_NONE, reason[0] = '\0' and field_count = 0; the plugin changes them only when
 * it has a verdict. `reason` (NUL-terminated, cut to fit; empty means the detector's name) and the
 * fields become the transition's metadata (and are stored with the event). The host ignores a FIRE
 * from a recovery detector and a RECOVERED from a trigger, reads at most DW_VERDICT_MAX_FIELDS
 * fields, and discards the whole verdict when on_observe does not return DW_STATUS_OK.
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
 * unloads it), and so are the name and version strings. Every function pointer is required: the
 * host refuses a plugin with a null one. `config` below is what on_config_new made and `state`
 * what on_state_new made; the host never looks inside either.
 */
typedef struct dw_type_detector {
  uint32_t struct_size; /* sizeof(dw_type_detector) as the plugin was built; >= the 1.0 size */
  const char* name;     /* unique among all loaded detectors and backends, e.g. "zscore_severe";
                           [a-z0-9_]+ (it is a YAML key, and stored with every event) */
  const char* version;  /* the detector's own version, e.g. "1.0.0"; recorded with every event */
  int32_t role;         /* a dw_type_detector_role */

  /* Validates params and creates the shared, read-only configuration. An unknown key or a bad
   * value fails with DW_STATUS_INVALID_ARGUMENT and error->param_index set; any failure stops the
   * host's start-up with the message. On success stores the new config in *config_out (the host
   * owns it from then on and destroys it with on_config_destroy); on failure *config_out is left
   * alone and the plugin keeps nothing. Called once per detector in the pipeline, at start-up. */
  dw_type_status (*on_config_new)(const dw_type_param* params, size_t param_count,
                                  void** config_out, dw_type_error* error);
  /* Frees a config, after every state made with it is destroyed. Cannot fail. */
  void (*on_config_destroy)(void* config);

  /* Creates the empty per-service state in *state_out (the host owns it from then on and destroys
   * it with on_state_destroy); on failure *state_out is left alone. Should not fail but for lack
   * of memory: a failure at start-up stops it, and at run time the host refuses the samples of
   * the service it was creating (they are answered 500). */
  dw_type_status (*on_state_new)(const void* config, void** state_out, dw_type_error* error);
  /* Frees a state. Cannot fail. */
  void (*on_state_destroy)(const void* config, void* state);

  /* Feeds one observation; writes a verdict only when the detector fires or recovers. On failure
   * the host discards the verdict (no opinion on that sample), counts the error and shows its
   * message; the service goes on, and so do the other detectors. */
  dw_type_status (*on_observe)(const void* config, void* state,
                               const dw_type_observation* observation, dw_type_verdict* verdict,
                               dw_type_error* error);

  /* Forgets everything observed: the state becomes as on_state_new made it. Returns nothing, so it
   * cannot fail as far as the host can see: a plugin that could not reset keeps the reason and
   * fails its next on_observe and on_state_save with it, rather than observe with a state that
   * was not reset (the C++ layer does so). */
  void (*on_reset)(const void* config, void* state);

  /* Serialises the state into buffer (capacity bytes; the plugin writes no more) and stores the
   * size in *size_out. If the buffer is too small, stores the needed size in *size_out and returns
   * DW_STATUS_BUFFER_TOO_SMALL (the host retries with a buffer that large). The bytes are the
   * plugin's own format, kept by the host with the service's snapshot: version them. On any other
   * failure the host counts the error and skips that snapshot (the state is unchanged). */
  dw_type_status (*on_state_save)(const void* config, const void* state, uint8_t* buffer,
                                  size_t capacity, size_t* size_out, dw_type_error* error);

  /* Replaces the state with one saved by on_state_save (possibly by an earlier run or an earlier
   * version of the plugin). Data it does not understand fails with DW_STATUS_CORRUPT and leaves the
   * state as it was. The host calls it on a fresh state at start-up; on failure it rebuilds the
   * service by replaying its stored samples through fresh states instead. */
  dw_type_status (*on_state_restore)(const void* config, void* state, const uint8_t* data,
                                     size_t size, dw_type_error* error);
} dw_type_detector;

/* ---------------------------------------------------------------------------------------------
 * Storage backends
 *
 * What the host keeps in a store, and relies on getting back:
 *  - Samples are the log the engine can be replayed from. seq numbers a service's samples 1, 2,
 *    3, ... in processing order; the host writes each (service, seq) once, in rising order per
 *    service (across batches, and within a batch in array order). A backend refuses a batch that
 *    would store a (service, seq) twice, and may refuse one whose seqs do not rise.
 *  - A snapshot is the host's serialised state of one service as of a sample seq (the bytes are
 *    the host's format, opaque to the backend, possibly empty). It comes in the same batch as the
 *    samples it reflects, or a later one, and replaces the service's previous snapshot.
 *  - Events are the service's state transitions, returned newest first.
 *  - At start-up the host restores each service from its snapshot plus the samples stored after
 *    it. When it cannot use the snapshot, it rebuilds the service from the samples still stored
 *    (those after its last "reset" event), numbering on from the first of them: hence what
 *    on_purge may delete.
 *  - Sample tags (ABI 1.3, a backend with DW_STORAGE_FEATURE_SAMPLE_TAGS): a sample may carry a
 *    tag naming a second series it also feeds, with its seq there (the host's endpoint series:
 *    a service's samples that name an endpoint). The backend stores such a sample once, with its
 *    tag, and it is then as much a sample of the tag's series as of its service: on_scan_samples
 *    of that series returns it (service_id the series' id, seq the tag's seq) after any samples
 *    the series has as rows of its own (written untagged, e.g. before the backend kept tags),
 *    on_scan_services reports the series (max_seq counting its tags), and a series' seqs rise
 *    across its own rows and its tags as a service's do. on_purge deletes a tagged sample only
 *    where the snapshots of both its service and its tag's series reflect it; a series whose
 *    samples are all tags keeps no "newest sample" (its snapshot holds its place instead). After
 *    on_forget of the tag's series no scan returns its tags any more, nor counts them, also for a
 *    later series of the same id (which starts at seq 1 again); on_forget of the service deletes
 *    the tagged samples with it. A backend without the feature gets no tags: the host writes each
 *    such sample twice instead, as a row of each series.
 *
 * Calls: at start-up, on the main thread, on_open then on_scan_services, whose callback calls
 * on_query_events and on_scan_samples for that service (so a backend must not hold, while it calls
 * a callback, anything those reads need). Then one thread (the host's storage writer) calls
 * on_write and on_purge, never two at once, while other threads call on_query_events and
 * on_stats, several at a time and concurrently with a write. A read sees a write whole or not at
 * all: never a snapshot without the samples written with it. on_close comes last, alone.
 * ------------------------------------------------------------------------------------------- */

/* One accepted sample. OWNERSHIP: the writer of the struct (the host in on_write, the backend in
 * a sample callback); every pointer is valid during that call only. */
typedef struct dw_type_stored_sample {
  const char* service_id; /* never NULL or empty */
  uint64_t seq;           /* see "Samples" above */
  int64_t timestamp_ms;   /* Unix epoch milliseconds (UTC) */
  double latency_ms;
  double payload_kb; /* NaN when the sample carried none: store and return it as NaN */
} dw_type_stored_sample;

/* ABI 1.3. What a sample's tag says: that the sample is also a sample of a second series (the
 * host's endpoint series), and its seq there. Sent only to a backend with
 * DW_STORAGE_FEATURE_SAMPLE_TAGS (see dw_type_storage.features), which stores the sample once and
 * returns it in the scans of both series. OWNERSHIP: as dw_type_stored_sample. */
typedef struct dw_type_sample_tag {
  const char* series_id; /* NULL: no second series; never the sample's own service_id */
  uint64_t seq;          /* the sample's seq in series_id; ignored when series_id is NULL */
} dw_type_sample_tag;

/* One state transition. OWNERSHIP: as dw_type_stored_sample. Every string is non-NULL. */
typedef struct dw_type_stored_event {
  const char* service_id;
  uint64_t seq; /* the sample that caused it (for a reset: the service's last seq) */
  int64_t timestamp_ms;
  const char* from_state;    /* "INSUFFICIENT_DATA", "STABLE" or "DRIFT_DETECTED" */
  const char* to_state;      /* likewise */
  const char* reason;        /* e.g. "baseline_established", "reset" */
  const char* metadata_json; /* a JSON object, stored and returned byte for byte */
} dw_type_stored_event;

/* A service's state as of sample last_seq (every sample with seq <= last_seq is reflected).
 * OWNERSHIP: as dw_type_stored_sample; data points to size bytes (may be NULL when size is 0). An
 * empty snapshot is still a snapshot: return it with size 0, not as "no snapshot". */
typedef struct dw_type_stored_snapshot {
  const char* service_id;
  uint64_t last_seq;
  const uint8_t* data;
  size_t size;
} dw_type_stored_snapshot;

/* ABI 1.2. Where a notification is in its delivery (docs/behaviour.md, "Notifications"). */
typedef enum dw_type_notification_state {
  DW_NOTIFICATION_PENDING = 1,   /* not delivered yet: the host goes on trying */
  DW_NOTIFICATION_DELIVERED = 2, /* the target took it */
  DW_NOTIFICATION_FAILED = 3     /* the target refused it, or the host gave up */
} dw_type_notification_state;

/* ABI 1.2. One transition to tell one notification target: a row of the outbox. OWNERSHIP: as
 * dw_type_stored_sample. Every string is non-NULL. A backend that has an outbox (see
 * on_scan_notifications) keeps these and returns them byte for byte. */
typedef struct dw_type_notification {
  const char* id;         /* "<service_id>/<event id>"; (id, target) names one row */
  const char* target;     /* the target's name */
  const char* service_id; /* the service whose transition it tells */
  const char* body;       /* the host's JSON description of the transition; opaque */
  int64_t created_ms;     /* when the transition was committed, epoch ms */
  int32_t state;          /* a dw_type_notification_state */
  uint32_t attempts;      /* delivery attempts made */
  int64_t updated_ms;     /* when state, attempts or last_error last changed */
  const char* last_error; /* why the last attempt failed ("" for none); never holds a secret */
} dw_type_notification;

/* What one on_write applies. OWNERSHIP: host, with everything it points to; valid during on_write
 * only. Arrays may be NULL when their count is 0. A service may have several snapshots in one
 * batch: the last in the array is the one to keep. */
typedef struct dw_type_write_batch {
  uint32_t struct_size; /* the host's: never smaller than the struct this header declares */
  const dw_type_stored_sample* samples;
  size_t sample_count;
  const dw_type_stored_event* events;
  size_t event_count;
  const dw_type_stored_snapshot* snapshots; /* each replaces the service's previous snapshot */
  size_t snapshot_count;
  /* ABI 1.2, for a backend with an outbox (the host sends none to one without): new rows, stored
   * after the events (in the same transaction: an event is never stored without its
   * notifications), in array order; a row whose (id, target) is already stored is skipped, as the
   * same notification. Then the updates: each sets state, attempts, updated_ms and last_error of
   * the stored row (id, target), and only those (body, service_id and created_ms of an update are
   * not read); an update of a row that is not stored (its service was forgotten) is skipped. */
  const dw_type_notification* notifications;
  size_t notification_count;
  const dw_type_notification* notification_updates;
  size_t notification_update_count;
  /* ABI 1.3, only to a backend with DW_STORAGE_FEATURE_SAMPLE_TAGS: NULL (no sample is tagged), or
   * sample_count tags, one per sample, in the same order (see "Sample tags" above
   * dw_type_storage). */
  const dw_type_sample_tag* sample_tags;
} dw_type_write_batch;

/* Filled by on_stats. OWNERSHIP: host; the host zeroes it and sets struct_size before the call. */
typedef struct dw_type_storage_stats {
  uint32_t struct_size;
  uint64_t sample_count; /* telemetry rows stored */
  uint64_t event_count;  /* drift events stored */
  uint64_t size_bytes;   /* bytes the store occupies (0 if not meaningful) */
} dw_type_storage_stats;

/* The callbacks of the scans below, called on the scanning thread, during the scan, with pointers
 * that are the backend's and valid during the call only. Each returns 0 to go on, anything else to
 * stop: the backend then calls it no more and returns DW_STATUS_OK (stopping is not a failure; the
 * host knows why it stopped). context is the host's, passed through untouched.
 *
 * dw_type_service_callback is called once per service found in the store, in any order. snapshot
 * is NULL when the service has no snapshot yet; max_seq is the highest sample seq stored for it
 * (0 if none). */
typedef int (*dw_type_service_callback)(void* context, const char* service_id,
                                        const dw_type_stored_snapshot* snapshot, uint64_t max_seq);
typedef int (*dw_type_sample_callback)(void* context, const dw_type_stored_sample* sample);
typedef int (*dw_type_event_callback)(void* context, const dw_type_stored_event* event);
typedef int (*dw_type_notification_callback)(void* context,
                                             const dw_type_notification* notification);

/*
 * A storage backend type. OWNERSHIP: plugin; static, valid while the library is loaded, and so are
 * its strings. Every function pointer up to on_purge is required. `store` below is what on_open
 * made.
 *
 * Errors: a failed on_write must leave the store as it was (the host keeps the batch and retries
 * it, with what arrived since, until it succeeds, answering new telemetry 503 meanwhile); a failed
 * scan at start-up stops it; a failed on_query_events is answered 503; a failed on_purge is logged
 * and tried again at the next retention pass; after a failed on_stats the host shows the last good
 * figures. Use DW_STATUS_IO_ERROR for what may pass (disk full, locked), DW_STATUS_CORRUPT for data
 * the backend cannot read, DW_STATUS_INVALID_ARGUMENT for a bad parameter or a batch that breaks
 * the rules above.
 */
typedef struct dw_type_storage {
  uint32_t struct_size; /* sizeof(dw_type_storage) as the plugin was built; >= the 1.0 size */
  const char* name;     /* unique among all loaded detectors and backends, e.g. "sqlite" */
  const char* version;

  /* Opens (creating if needed) the store described by params. The host passes {"path", <its
   * storage.path>} whatever the backend, so accept "path" even if you keep nothing on disk; refuse
   * any key you do not know (DW_STATUS_INVALID_ARGUMENT, error->param_index set). A store it
   * cannot open, one that is not its format, one from a newer schema, or one another process has
   * open (two hosts would interleave their seqs) fails with a message and is left untouched. On
   * success stores the handle in *store_out (the host owns it until on_close); on failure leaves
   * *store_out alone and keeps nothing open. */
  dw_type_status (*on_open)(const dw_type_param* params, size_t param_count, void** store_out,
                            dw_type_error* error);
  /* Releases everything, including any lock on the store. Called once, when no other call on the
   * store is running or will come. Returns nothing, so it cannot fail as far as the host can see:
   * every write it was told succeeded must already be as durable as the backend makes it, and
   * anything left undone here (flushing a cache, tidying up) must leave a store the next on_open
   * accepts. A backend may log what it could not do to stderr. */
  void (*on_close)(void* store);

  /* Applies a batch atomically (all or nothing) and durably (as durable as the backend is): once
   * it returns DW_STATUS_OK readers see the batch, a restart finds it, and the host may tell the
   * client its samples are stored. */
  dw_type_status (*on_write)(void* store, const dw_type_write_batch* batch, dw_type_error* error);

  /* Enumerates every stored service (see dw_type_service_callback). */
  dw_type_status (*on_scan_services)(void* store, dw_type_service_callback callback, void* context,
                                     dw_type_error* error);

  /* Enumerates a service's samples with seq > after_seq, in rising seq order. An unknown service
   * has none: DW_STATUS_OK without a call. */
  dw_type_status (*on_scan_samples)(void* store, const char* service_id, uint64_t after_seq,
                                    dw_type_sample_callback callback, void* context,
                                    dw_type_error* error);

  /* Enumerates a service's events, newest first (the reverse of the order they were written), at
   * most limit (>= 1) of them. An unknown service has none. */
  dw_type_status (*on_query_events)(void* store, const char* service_id, uint32_t limit,
                                    dw_type_event_callback callback, void* context,
                                    dw_type_error* error);

  /* Fills stats (the host sets stats->struct_size). Counts what is stored now, after purges. */
  dw_type_status (*on_stats)(void* store, dw_type_storage_stats* stats, dw_type_error* error);

  /* Retention: deletes at most max_rows rows in all and stores how many went in *deleted_out. The
   * host calls it repeatedly, in small steps between writes, until it deletes nothing, so it must
   * answer 0 once nothing is left. What may go:
   *  - events with timestamp_ms < events_before_ms (epoch ms), oldest first;
   *  - samples with timestamp_ms < samples_before_ms, but only those the service's stored snapshot
   *    reflects (seq <= its last_seq; a service without a snapshot keeps every sample), never the
   *    service's newest sample, and oldest seq first, stopping at the first sample kept: what is
   *    left of a service is always one unbroken run of seqs ending at its newest.
   * Snapshots are never deleted. */
  dw_type_status (*on_purge)(void* store, int64_t samples_before_ms, int64_t events_before_ms,
                             uint32_t max_rows, uint64_t* deleted_out, dw_type_error* error);

  /* ABI 1.1. Forgets a decommissioned service: deletes every sample, event and the snapshot of
   * service_id, atomically and durably (as on_write), so that neither a read nor a restart finds
   * any of it, and a later sample of the same id starts again at seq 1 as a new service. An
   * unknown service is not an error (forgetting twice is harmless: the host may retry a forget
   * whose following on_write failed). Called by the storage writer, like on_write, never at the
   * same time as it. May be NULL (and is absent from a 1.0 plugin's smaller struct): the host
   * then answers that the store cannot forget services, and changes nothing. */
  dw_type_status (*on_forget)(void* store, const char* service_id, dw_type_error* error);

  /* ABI 1.2. The outbox: a backend that sets this keeps the notification rows of on_write (see
   * dw_type_write_batch), deletes a service's rows in on_forget, and in on_purge also deletes
   * rows that are not pending with updated_ms < events_before_ms (oldest first, counted in
   * max_rows). Enumerates the stored rows in the order they were written (newest_first != 0:
   * the reverse), only those of `target` (all when it is "") and in `state` (all when 0), at most
   * `limit` (no limit when 0). Called by the host's threads like on_query_events. May be NULL
   * (and is absent from an older plugin's smaller struct): the host then refuses to start with
   * notification targets configured, naming the backend. */
  dw_type_status (*on_scan_notifications)(void* store, const char* target, int32_t state,
                                          uint32_t limit, int32_t newest_first,
                                          dw_type_notification_callback callback, void* context,
                                          dw_type_error* error);

  /* ABI 1.3. What the backend does beyond 1.2: a bitwise OR of DW_STORAGE_FEATURE_* (0 for none;
   * absent from an older plugin's smaller struct, which the host reads as 0). */
  uint32_t features;
} dw_type_storage;

/* ABI 1.3, dw_type_storage.features: the backend keeps sample tags (see "Sample tags" above). */
#define DW_STORAGE_FEATURE_SAMPLE_TAGS 1u

/* ---------------------------------------------------------------------------------------------
 * The plugin descriptor
 * ------------------------------------------------------------------------------------------- */

/* What a plugin provides. OWNERSHIP: plugin; static, valid while the library is loaded (the host
 * never unloads it), with every array and string it points to. The host reads it before calling
 * anything else, and refuses the whole file (naming why) when a check fails: see the versioning
 * rules at the top. */
typedef struct dw_type_plugin {
  uint32_t struct_size; /* sizeof(dw_type_plugin) as the plugin was built; >= the 1.0 size */
  uint16_t abi_major;   /* DW_ABI_VERSION_MAJOR the plugin was built with */
  uint16_t abi_minor;   /* DW_ABI_VERSION_MINOR the plugin was built with */
  const char* name;     /* e.g. "zscore_severe"; shown in the service's status */
  const char* version;
  const dw_type_detector* const* detectors; /* may be NULL when detector_count is 0 */
  size_t detector_count;
  const dw_type_storage* const* storages; /* may be NULL when storage_count is 0 */
  size_t storage_count;
} dw_type_plugin;

/* The entry point every plugin exports under the name DW_PLUGIN_ENTRY_SYMBOL. It must not fail and
 * must do no work beyond returning its static descriptor (NULL is refused); the host calls it once,
 * at start-up, on the main thread. */
typedef const dw_type_plugin* (*dw_type_plugin_entry)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DRIFTWATCH_PLUGIN_H */
