/* plugin.h is plain C99: this program includes it, builds a detector, a storage backend's write
 * and a plugin descriptor the way a C plugin would, and calls through them. Built with -std=c99
 * -pedantic -Werror. */
#include <driftwatch/plugin.h>
#include <stdio.h>
#include <string.h>

static int config_token = 7;
static int state_token = 0;

static dw_type_status ConfigNew(const dw_type_param* params, size_t count, void** config_out,
                                dw_type_error* error) {
  if (count != 1 || strcmp(params[0].key, "threshold") != 0) {
    strcpy(error->message, "only 'threshold' is known");
    error->param_index = 0;
    return DW_STATUS_INVALID_ARGUMENT;
  }
  *config_out = &config_token;
  return DW_STATUS_OK;
}
static void ConfigDestroy(void* config) { (void)config; }
static dw_type_status StateNew(const void* config, void** state_out, dw_type_error* error) {
  (void)config, (void)error;
  *state_out = &state_token;
  return DW_STATUS_OK;
}
static void StateDestroy(const void* config, void* state) { (void)config, (void)state; }
static dw_type_status Observe(const void* config, void* state, const dw_type_observation* obs,
                              dw_type_verdict* verdict, dw_type_error* error) {
  (void)config, (void)error;
  ++*(int*)state;
  if (obs->abs_zscore > 3.0) {
    verdict->kind = DW_VERDICT_FIRE;
    strcpy(verdict->reason, "c_fired");
    strcpy(verdict->fields[0].key, "abs_zscore");
    verdict->fields[0].value = obs->abs_zscore;
    verdict->field_count = 1;
  }
  return DW_STATUS_OK;
}
static void Reset(const void* config, void* state) {
  (void)config;
  *(int*)state = 0;
}
static dw_type_status Save(const void* config, const void* state, uint8_t* buffer, size_t capacity,
                           size_t* size_out, dw_type_error* error) {
  (void)config, (void)error;
  *size_out = sizeof(int);
  if (capacity < sizeof(int)) return DW_STATUS_BUFFER_TOO_SMALL;
  memcpy(buffer, state, sizeof(int));
  return DW_STATUS_OK;
}
static dw_type_status Restore(const void* config, void* state, const uint8_t* data, size_t size,
                              dw_type_error* error) {
  (void)config, (void)error;
  if (size != sizeof(int)) return DW_STATUS_CORRUPT;
  memcpy(state, data, sizeof(int));
  return DW_STATUS_OK;
}

/* A backend that keeps sample tags (ABI 1.3) and only counts them. */
static size_t tagged_samples = 0;
static dw_type_status Write(void* store, const dw_type_write_batch* batch, dw_type_error* error) {
  size_t i;
  (void)store, (void)error;
  for (i = 0; batch->sample_tags != NULL && i < batch->sample_count; ++i) {
    if (batch->sample_tags[i].series_id != NULL) ++tagged_samples;
  }
  return DW_STATUS_OK;
}
static const dw_type_storage kStorage = {.struct_size = sizeof(dw_type_storage),
                                         .name = "c_storage",
                                         .version = "1.0.0",
                                         .on_write = Write,
                                         .features = DW_STORAGE_FEATURE_SAMPLE_TAGS};

static const dw_type_detector kDetector = {sizeof(dw_type_detector),
                                           "c_detector",
                                           "1.0.0",
                                           DW_DETECTOR_ROLE_TRIGGER,
                                           ConfigNew,
                                           ConfigDestroy,
                                           StateNew,
                                           StateDestroy,
                                           Observe,
                                           Reset,
                                           Save,
                                           Restore};
static const dw_type_detector* const kDetectors[] = {&kDetector};
static const dw_type_plugin kPlugin = {sizeof(dw_type_plugin),
                                       DW_ABI_VERSION_MAJOR,
                                       DW_ABI_VERSION_MINOR,
                                       "c_plugin",
                                       "1.0.0",
                                       kDetectors,
                                       1,
                                       NULL,
                                       0};

static const dw_type_plugin* Entry(void) { return &kPlugin; }

#define CHECK(condition)                                                      \
  do {                                                                        \
    if (!(condition)) {                                                       \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
      return 1;                                                               \
    }                                                                         \
  } while (0)

int main(void) {
  dw_type_plugin_entry entry = Entry;
  const dw_type_plugin* plugin = entry();
  const dw_type_detector* detector;
  dw_type_param param;
  dw_type_error error;
  dw_type_observation observation;
  dw_type_verdict verdict;
  void* config = NULL;
  void* state = NULL;
  uint8_t saved[sizeof(int)];
  size_t saved_size = 0;
  const dw_type_stored_sample samples[2] = {{"svc", 1, 0, 1.0, 0.0}, {"svc", 2, 0, 1.0, 0.0}};
  const dw_type_sample_tag tags[2] = {{NULL, 0}, {"svc#GET /", 1}};
  dw_type_write_batch batch;

  CHECK(plugin->struct_size == sizeof(dw_type_plugin));
  CHECK(plugin->abi_major == DW_ABI_VERSION_MAJOR && plugin->detector_count == 1);
  detector = plugin->detectors[0];

  param.key = "window";
  param.value = "3";
  error.message[0] = '\0';
  error.param_index = -1;
  CHECK(detector->on_config_new(&param, 1, &config, &error) == DW_STATUS_INVALID_ARGUMENT);
  CHECK(error.param_index == 0 && strcmp(error.message, "only 'threshold' is known") == 0);
  param.key = "threshold";
  CHECK(detector->on_config_new(&param, 1, &config, &error) == DW_STATUS_OK);
  CHECK(detector->on_state_new(config, &state, &error) == DW_STATUS_OK);

  memset(&observation, 0, sizeof observation);
  observation.struct_size = sizeof observation;
  observation.abs_zscore = 4.5;
  memset(&verdict, 0, sizeof verdict);
  verdict.struct_size = sizeof verdict;
  CHECK(detector->on_observe(config, state, &observation, &verdict, &error) == DW_STATUS_OK);
  CHECK(verdict.kind == DW_VERDICT_FIRE && strcmp(verdict.reason, "c_fired") == 0);
  CHECK(verdict.field_count == 1 && verdict.fields[0].value == 4.5);

  CHECK(detector->on_state_save(config, state, saved, 0, &saved_size, &error) ==
        DW_STATUS_BUFFER_TOO_SMALL);
  CHECK(saved_size == sizeof(int));
  CHECK(detector->on_state_save(config, state, saved, sizeof saved, &saved_size, &error) ==
        DW_STATUS_OK);
  detector->on_reset(config, state);
  CHECK(state_token == 0);
  CHECK(detector->on_state_restore(config, state, saved, saved_size, &error) == DW_STATUS_OK);
  CHECK(state_token == 1);

  detector->on_state_destroy(config, state);
  detector->on_config_destroy(config);

  memset(&batch, 0, sizeof batch);
  batch.struct_size = sizeof batch;
  batch.samples = samples;
  batch.sample_count = 2;
  batch.sample_tags = tags;
  CHECK((kStorage.features & DW_STORAGE_FEATURE_SAMPLE_TAGS) != 0);
  CHECK(kStorage.on_write(NULL, &batch, &error) == DW_STATUS_OK);
  CHECK(tagged_samples == 1);
  return 0;
}
