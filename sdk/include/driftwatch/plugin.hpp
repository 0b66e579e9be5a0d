// DriftWatch plugin SDK: a header-only C++17 layer over the C ABI in plugin.h.
//
// A plugin author writes a small class and one export macro; this header generates the C entry
// points. Every generated function is noexcept: an exception thrown by the author's code becomes a
// status and a message for the host, never a crash. on_reset has no status to return: an
// exception from Reset fails every Save until the state is reset or restored, and the next Observe,
// which resets again first ("reset failed: <message>").
//
// A detector class T provides:
//   static constexpr const char* kName;     // e.g. "zscore_severe"
//   static constexpr const char* kVersion;  // e.g. "1.0.0"
//   static constexpr dw_type_detector_role kRole;
//   struct Config;                           // movable, read-only once built
//   static Config Configure(driftwatch::sdk::Params& params);   // throws ParamError
//   explicit T(const Config& config);        // the empty per-service state
//   void Observe(const Config& config, const dw_type_observation& obs,
//                driftwatch::sdk::Verdict& verdict);
//   void Reset(const Config& config);
//   void Save(driftwatch::sdk::StateWriter& out) const;
//   void Restore(const Config& config, driftwatch::sdk::StateReader& in);  // throws CorruptState
// It must be move-assignable (Restore moves a new state into place), and neither it nor Config may
// throw from its destructor. DetectorType<T>::Get() checks all of this at compile time: a class
// that misses something gets one static_assert that names it. It is exported with
//   DRIFTWATCH_PLUGIN("my_plugin", "1.0.0",
//                     DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<T>::Get()),
//                     DRIFTWATCH_NO_STORAGES)
// (see docs/plugin-guide.md for a complete walk-through).
#ifndef DRIFTWATCH_PLUGIN_HPP
#define DRIFTWATCH_PLUGIN_HPP

#include <driftwatch/plugin.h>
#include <driftwatch/byte_coding.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace driftwatch {
namespace sdk {

// Thrown by Configure for a bad parameter; index is the parameter's position (-1: none in
// particular). The host names the key and its line in the config file.
class ParamError : public std::runtime_error {
 public:
  ParamError(int32_t index, const std::string& message)
      : std::runtime_error(message), index_(index) {}
  int32_t index() const noexcept { return index_; }

 private:
  int32_t index_;
};

// Thrown by Restore (or a StateReader) for saved bytes the detector does not understand. As for
// every exception here, the message need not name the detector: the host does.
class CorruptState : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by a storage backend; status says what kind of failure (e.g. DW_STATUS_IO_ERROR).
class StorageError : public std::runtime_error {
 public:
  StorageError(dw_type_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  dw_type_status status() const noexcept { return status_; }

 private:
  dw_type_status status_;
};

// The configuration parameters of one detector, with typed, range-checked getters. Call Finish()
// after the last getter: any parameter not asked for is reported as unknown. A bad value throws
// ParamError with the parameter's index and a message that does not repeat its key: the host
// names the key (and the file and line) itself.
class Params {
 public:
  Params(const dw_type_param* params, size_t count) : params_(params), used_(count, false) {}

  double Double(const char* key, double fallback, double min_value, double max_value) {
    const int32_t index = Find(key);
    if (index < 0) return fallback;
    const char* text = params_[index].value;
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    if (end == text || *end != '\0' || !std::isfinite(value)) {
      throw ParamError(index, std::string("expected a number, got '") + text + "'");
    }
    if (value < min_value || value > max_value) {
      throw ParamError(index, std::string(text) + " is out of range [" + Format(min_value) + ", " +
                                  Format(max_value) + "]");
    }
    return value;
  }

  uint32_t UInt(const char* key, uint32_t fallback, uint32_t min_value, uint32_t max_value) {
    const int32_t index = Find(key);
    if (index < 0) return fallback;
    const char* text = params_[index].value;
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0') {
      throw ParamError(index, std::string("expected a whole number, got '") + text + "'");
    }
    if (value < static_cast<long long>(min_value) || value > static_cast<long long>(max_value)) {
      throw ParamError(index, std::string(text) + " is out of range [" + std::to_string(min_value) +
                                  ", " + std::to_string(max_value) + "]");
    }
    return static_cast<uint32_t>(value);
  }

  std::string String(const char* key, const std::string& fallback) {
    const int32_t index = Find(key);
    return index < 0 ? fallback : std::string(params_[index].value);
  }

  void Finish() const {
    for (size_t i = 0; i < used_.size(); ++i) {
      if (!used_[i]) {
        throw ParamError(static_cast<int32_t>(i),
                         std::string("unknown parameter '") + params_[i].key + "'");
      }
    }
  }

 private:
  int32_t Find(const char* key) {
    for (size_t i = 0; i < used_.size(); ++i) {
      if (std::strcmp(params_[i].key, key) == 0) {
        used_[i] = true;
        return static_cast<int32_t>(i);
      }
    }
    return -1;
  }
  static std::string Format(double value) {
    std::string text = std::to_string(value);
    text.erase(text.find_last_not_of('0') + 1);
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
  }

  const dw_type_param* params_;
  std::vector<bool> used_;
};

// The verdict a detector writes for one observation (a thin view of dw_type_verdict).
class Verdict {
 public:
  struct Field {
    const char* key;
    double value;
  };

  explicit Verdict(dw_type_verdict* raw) : raw_(raw) {}

  void Fire(const char* reason, std::initializer_list<Field> fields) {
    Set(DW_VERDICT_FIRE, reason, fields);
  }
  void Recovered(const char* reason, std::initializer_list<Field> fields) {
    Set(DW_VERDICT_RECOVERED, reason, fields);
  }

 private:
  void Set(dw_type_verdict_kind kind, const char* reason, std::initializer_list<Field> fields) {
    raw_->kind = kind;
    CopyText(raw_->reason, sizeof raw_->reason, reason);
    uint32_t count = 0;
    for (const Field& field : fields) {
      if (count == DW_VERDICT_MAX_FIELDS) break;
      CopyText(raw_->fields[count].key, sizeof raw_->fields[count].key, field.key);
      raw_->fields[count].value = field.value;
      ++count;
    }
    raw_->field_count = count;
  }
  static void CopyText(char* out, size_t size, const char* text) {
    const size_t length = std::min(std::strlen(text), size - 1);
    std::memcpy(out, text, length);
    out[length] = '\0';
  }

  dw_type_verdict* raw_;
};

// Appends fixed-size values, in the machine's byte order, to a detector's saved state.
namespace detail {

// A number's bits as an unsigned integer of its width, and back: what StateWriter stores.
template <typename T>
uint64_t BitsOf(const T& value) {
  if constexpr (std::is_same<T, bool>::value) {
    return value ? 1 : 0;
  } else if constexpr (std::is_floating_point<T>::value) {
    using Bits = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    static_assert(sizeof(T) == sizeof(Bits), "floats of 4 or 8 bytes only");
    Bits bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
  } else {
    return static_cast<uint64_t>(value);  // two's complement, for signed ones
  }
}

template <typename T>
T FromBits(uint64_t bits) {
  if constexpr (std::is_same<T, bool>::value) {
    return bits != 0;
  } else if constexpr (std::is_floating_point<T>::value) {
    using Bits = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    const auto narrow = static_cast<Bits>(bits);
    T value;
    std::memcpy(&value, &narrow, sizeof value);
    return value;
  } else {
    const auto narrow = static_cast<typename std::make_unsigned<T>::type>(bits);
    T value;
    std::memcpy(&value, &narrow, sizeof value);
    return value;
  }
}

}  // namespace detail

class StateWriter {
 public:
  // Numbers only (an integer, a bool, a float or a double), little-endian whatever the machine,
  // so that a state saved on one machine restores on any other: save a struct field by field.
  template <typename T>
  void Put(const T& value) {
    static_assert(std::is_arithmetic<T>::value && sizeof(T) <= 8,
                  "StateWriter::Put takes numbers, stored little-endian the same on every machine: "
                  "save a struct field by field");
    uint8_t bytes[sizeof(T)];
    coding::PutFixed(detail::BitsOf(value), sizeof(T), bytes);
    bytes_.insert(bytes_.end(), bytes, bytes + sizeof(T));
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  void Clear() { bytes_.clear(); }

 private:
  std::vector<uint8_t> bytes_;
};

// Reads back what a StateWriter wrote; throws CorruptState when the bytes run out.
class StateReader {
 public:
  StateReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T Get() {
    static_assert(std::is_arithmetic<T>::value && sizeof(T) <= 8,
                  "StateReader::Get takes the numbers StateWriter::Put wrote");
    if (size_ - offset_ < sizeof(T)) throw CorruptState("saved detector state is truncated");
    const uint64_t bits = coding::GetFixed(data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return detail::FromBits<T>(bits);
  }
  // Call after the last Get: extra bytes mean the data is not what this detector saved.
  void ExpectEnd() const {
    if (offset_ != size_) throw CorruptState("saved detector state has trailing bytes");
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

namespace detail {

inline void WriteError(dw_type_error* error, const char* message) {
  if (error == nullptr) return;
  const size_t length = std::min(std::strlen(message), sizeof error->message - 1);
  std::memcpy(error->message, message, length);
  error->message[length] = '\0';
}

// Runs body, turning every exception into a status and a message.
template <typename Body>
dw_type_status Guard(dw_type_error* error, Body&& body) noexcept {
  try {
    body();
    return DW_STATUS_OK;
  } catch (const ParamError& e) {
    WriteError(error, e.what());
    if (error != nullptr) error->param_index = e.index();
    return DW_STATUS_INVALID_ARGUMENT;
  } catch (const CorruptState& e) {
    WriteError(error, e.what());
    return DW_STATUS_CORRUPT;
  } catch (const StorageError& e) {
    WriteError(error, e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    WriteError(error, "out of memory");
    return DW_STATUS_ERROR;
  } catch (const std::exception& e) {
    WriteError(error, e.what());
    return DW_STATUS_ERROR;
  } catch (...) {
    WriteError(error, "unknown exception");
    return DW_STATUS_ERROR;
  }
}

// ---- The class contracts, checked at compile time -----------------------------------------------
// Each check is true or false, never a compile error of its own, so that a class that breaks the
// contract gets the one static_assert message that says what is missing.

template <typename AlwaysVoid, template <typename...> class Op, typename... Args>
struct Detect : std::false_type {};
template <template <typename...> class Op, typename... Args>
struct Detect<std::void_t<Op<Args...>>, Op, Args...> : std::true_type {};
// Whether Op<Args...> names a type (an expression that compiles, through decltype).
template <template <typename...> class Op, typename... Args>
constexpr bool kHas = Detect<void, Op, Args...>::value;

// T::Config, or this placeholder when T has none (so only the static_assert complains).
struct MissingConfig {};
template <typename T, typename = void>
struct ConfigOf {
  using type = MissingConfig;
};
template <typename T>
struct ConfigOf<T, std::void_t<typename T::Config>> {
  using type = typename T::Config;
};

template <typename T>
using NameOp = decltype(static_cast<const char*>(T::kName));
template <typename T>
using VersionOp = decltype(static_cast<const char*>(T::kVersion));
template <typename T>
using RoleOp = std::enable_if_t<
    std::is_same<std::remove_cv_t<decltype(T::kRole)>, dw_type_detector_role>::value>;
template <typename T>
using ConfigOp = typename T::Config;
template <typename T, typename C>
using ConfigureOp = std::enable_if_t<
    std::is_convertible<decltype(T::Configure(std::declval<Params&>())), C>::value>;
template <typename T, typename C>
using ObserveOp = decltype(std::declval<T&>().Observe(std::declval<const C&>(),
                                                      std::declval<const dw_type_observation&>(),
                                                      std::declval<Verdict&>()));
template <typename T, typename C>
using ResetOp = decltype(std::declval<T&>().Reset(std::declval<const C&>()));
template <typename T>
using SaveOp = decltype(std::declval<const T&>().Save(std::declval<StateWriter&>()));
template <typename T, typename C>
using RestoreOp =
    decltype(std::declval<T&>().Restore(std::declval<const C&>(), std::declval<StateReader&>()));

template <typename T>
using OpenOp =
    std::enable_if_t<std::is_convertible<decltype(T::Open(std::declval<Params&>())), T*>::value>;
template <typename T>
using WriteOp = decltype(std::declval<T&>().Write(std::declval<const dw_type_write_batch&>()));
template <typename T>
using ScanServicesOp = decltype(std::declval<T&>().ScanServices(
    std::declval<dw_type_service_callback>(), std::declval<void*>()));
template <typename T>
using ScanSamplesOp = decltype(std::declval<T&>().ScanSamples(
    std::declval<const char*>(), std::declval<uint64_t>(), std::declval<dw_type_sample_callback>(),
    std::declval<void*>()));
template <typename T>
using QueryEventsOp = decltype(std::declval<T&>().QueryEvents(
    std::declval<const char*>(), std::declval<uint32_t>(), std::declval<dw_type_event_callback>(),
    std::declval<void*>()));
template <typename T>
using StatsOp = decltype(std::declval<T&>().Stats(std::declval<dw_type_storage_stats&>()));
template <typename T>
using PurgeOp =
    std::enable_if_t<std::is_convertible<decltype(std::declval<T&>().Purge(
                                             std::declval<int64_t>(), std::declval<int64_t>(),
                                             std::declval<uint32_t>())),
                                         uint64_t>::value>;
template <typename T>
using ForgetOp = decltype(std::declval<T&>().Forget(std::declval<const char*>()));
template <typename T>
using ScanNotificationsOp = decltype(std::declval<T&>().ScanNotifications(
    std::declval<const char*>(), std::declval<int32_t>(), std::declval<uint32_t>(),
    std::declval<bool>(), std::declval<dw_type_notification_callback>(), std::declval<void*>()));
// Whether T names kFeatures at all, and whether as the static uint32_t constant it must be: one
// of another type is refused rather than taken as no features.
template <typename T>
using FeaturesNameOp = decltype(&T::kFeatures);
template <typename T>
using FeaturesOp = std::enable_if_t<std::is_same<decltype(&T::kFeatures), const uint32_t*>::value>;

// Every DW_STORAGE_FEATURE_* this header defines.
constexpr uint32_t kKnownStorageFeatures = DW_STORAGE_FEATURE_SAMPLE_TAGS;

// T::kFeatures, or 0 for a class that declares none (or declares it wrongly: the check says so).
template <typename T>
constexpr uint32_t FeaturesOf() {
  if constexpr (kHas<FeaturesOp, T>) {
    return T::kFeatures;
  } else {
    return 0;
  }
}

// Every requirement on a detector class, each with the message that explains it.
template <typename T>
constexpr bool CheckDetectorClass() {
  using C = typename ConfigOf<T>::type;
  constexpr bool kConfig = kHas<ConfigOp, T>;  // without it, only that is reported
  static_assert(kHas<NameOp, T>,
                "DetectorType<T>: T needs `static constexpr const char* kName`, the detector's "
                "name ([a-z0-9_]+, the key under `detectors:` in the config)");
  static_assert(kHas<VersionOp, T>,
                "DetectorType<T>: T needs `static constexpr const char* kVersion`, the detector's "
                "own version (recorded with every event)");
  static_assert(kHas<RoleOp, T>,
                "DetectorType<T>: T needs `static constexpr dw_type_detector_role kRole` "
                "(DW_DETECTOR_ROLE_TRIGGER or DW_DETECTOR_ROLE_RECOVERY)");
  static_assert(kHas<ConfigOp, T>,
                "DetectorType<T>: T needs a nested type `Config`, its read-only configuration "
                "(an empty `struct Config {};` if it takes no parameters)");
  static_assert(!kConfig || std::is_move_constructible<C>::value,
                "DetectorType<T>: T::Config must be move-constructible (Configure's result is "
                "moved to where every service's state can read it)");
  static_assert(!kConfig || std::is_nothrow_destructible<C>::value,
                "DetectorType<T>: T::Config's destructor must not throw (on_config_destroy cannot "
                "report an error)");
  static_assert(!kConfig || kHas<ConfigureOp, T, C>,
                "DetectorType<T>: T needs `static Config Configure(driftwatch::sdk::Params&)`, "
                "which reads the parameters and throws ParamError for a bad one");
  static_assert(!kConfig || std::is_constructible<T, const C&>::value,
                "DetectorType<T>: T needs a constructor `explicit T(const Config&)` that makes the "
                "empty per-service state");
  static_assert(!kConfig || kHas<ObserveOp, T, C>,
                "DetectorType<T>: T needs `void Observe(const Config&, const dw_type_observation&, "
                "driftwatch::sdk::Verdict&)`");
  static_assert(!kConfig || kHas<ResetOp, T, C>,
                "DetectorType<T>: T needs `void Reset(const Config&)`, which forgets everything "
                "observed");
  static_assert(kHas<SaveOp, T>,
                "DetectorType<T>: T needs `void Save(driftwatch::sdk::StateWriter&) const`");
  static_assert(!kConfig || kHas<RestoreOp, T, C>,
                "DetectorType<T>: T needs `void Restore(const Config&, "
                "driftwatch::sdk::StateReader&)`, which throws CorruptState for bytes it does not "
                "understand");
  static_assert(std::is_move_assignable<T>::value,
                "DetectorType<T>: T must be move-assignable (a restore builds a new state and "
                "moves it into place, so a failed one changes nothing)");
  static_assert(std::is_nothrow_destructible<T>::value,
                "DetectorType<T>: T's destructor must not throw (on_state_destroy cannot report "
                "an error)");
  return kHas<NameOp, T> && kHas<VersionOp, T> && kHas<RoleOp, T> && kConfig &&
         std::is_move_constructible<C>::value && std::is_nothrow_destructible<C>::value &&
         kHas<ConfigureOp, T, C> && std::is_constructible<T, const C&>::value &&
         kHas<ObserveOp, T, C> && kHas<ResetOp, T, C> && kHas<SaveOp, T> && kHas<RestoreOp, T, C> &&
         std::is_move_assignable<T>::value && std::is_nothrow_destructible<T>::value;
}

// Every requirement on a storage class, each with the message that explains it.
template <typename T>
constexpr bool CheckStorageClass() {
  static_assert(kHas<NameOp, T>,
                "StorageType<T>: T needs `static constexpr const char* kName`, the backend's name "
                "(the value of `storage.plugin` in the config)");
  static_assert(kHas<VersionOp, T>,
                "StorageType<T>: T needs `static constexpr const char* kVersion`");
  static_assert(kHas<OpenOp, T>,
                "StorageType<T>: T needs `static T* Open(driftwatch::sdk::Params&)`, which returns "
                "a new store or throws StorageError / ParamError");
  static_assert(kHas<WriteOp, T>,
                "StorageType<T>: T needs `void Write(const dw_type_write_batch&)`, all or nothing");
  static_assert(kHas<ScanServicesOp, T>,
                "StorageType<T>: T needs `void ScanServices(dw_type_service_callback, void*)`");
  static_assert(kHas<ScanSamplesOp, T>,
                "StorageType<T>: T needs `void ScanSamples(const char* service_id, uint64_t "
                "after_seq, dw_type_sample_callback, void*)`");
  static_assert(kHas<QueryEventsOp, T>,
                "StorageType<T>: T needs `void QueryEvents(const char* service_id, uint32_t limit, "
                "dw_type_event_callback, void*)`");
  static_assert(kHas<StatsOp, T>, "StorageType<T>: T needs `void Stats(dw_type_storage_stats&)`");
  static_assert(kHas<PurgeOp, T>,
                "StorageType<T>: T needs `uint64_t Purge(int64_t samples_before_ms, int64_t "
                "events_before_ms, uint32_t max_rows)`, returning how many rows it deleted");
  static_assert(std::is_nothrow_destructible<T>::value,
                "StorageType<T>: T's destructor closes the store and must not throw (on_close "
                "cannot report an error)");
  constexpr bool kFeaturesTyped = !kHas<FeaturesNameOp, T> || kHas<FeaturesOp, T>;
  static_assert(kFeaturesTyped,
                "StorageType<T>: T::kFeatures must be `static constexpr uint32_t`, a bitwise OR of "
                "DW_STORAGE_FEATURE_*");
  constexpr bool kFeaturesKnown = (FeaturesOf<T>() & ~kKnownStorageFeatures) == 0;
  static_assert(kFeaturesKnown,
                "StorageType<T>: T::kFeatures has a bit that is no DW_STORAGE_FEATURE_* of this "
                "header");
  return kHas<NameOp, T> && kHas<VersionOp, T> && kHas<OpenOp, T> && kHas<WriteOp, T> &&
         kHas<ScanServicesOp, T> && kHas<ScanSamplesOp, T> && kHas<QueryEventsOp, T> &&
         kHas<StatsOp, T> && kHas<PurgeOp, T> && std::is_nothrow_destructible<T>::value &&
         kFeaturesTyped && kFeaturesKnown;
}

}  // namespace detail

// The C vtable of detector class T (see the top of this file for what T provides).
template <typename T>
struct DetectorType {
  using Config = typename detail::ConfigOf<T>::type;

  // What the host holds for one service: the author's object, and whether its last Reset threw.
  // on_reset returns nothing, so the calls after it report that failure: every Save until the
  // state is reset or restored, and the next Observe, which resets again first instead of
  // observing with a state that was not reset.
  struct State {
    explicit State(const Config& config) : detector(config) {}
    T detector;
    bool reset_failed = false;
    std::string reset_failure;  // the exception's message
  };

  static dw_type_status ConfigNew(const dw_type_param* params, size_t count, void** config_out,
                                  dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      Params reader(params, count);
      Config config = T::Configure(reader);
      reader.Finish();
      *config_out = new Config(std::move(config));
    });
  }
  static void ConfigDestroy(void* config) noexcept { delete static_cast<Config*>(config); }

  static dw_type_status StateNew(const void* config, void** state_out,
                                 dw_type_error* error) noexcept {
    return detail::Guard(error,
                         [&] { *state_out = new State(*static_cast<const Config*>(config)); });
  }
  static void StateDestroy(const void*, void* state) noexcept { delete static_cast<State*>(state); }

  static dw_type_status Observe(const void* config, void* state,
                                const dw_type_observation* observation, dw_type_verdict* verdict,
                                dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      State& typed_state = *static_cast<State*>(state);
      const Config& typed_config = *static_cast<const Config*>(config);
      if (typed_state.reset_failed) {
        std::string why = ResetFailure(typed_state);
        TryReset(typed_state, typed_config);
        throw std::runtime_error(why);
      }
      Verdict out(verdict);
      typed_state.detector.Observe(typed_config, *observation, out);
    });
  }

  static void Reset(const void* config, void* state) noexcept {
    TryReset(*static_cast<State*>(state), *static_cast<const Config*>(config));
  }

  static dw_type_status Save(const void*, const void* state, uint8_t* buffer, size_t capacity,
                             size_t* size_out, dw_type_error* error) noexcept {
    dw_type_status status = DW_STATUS_OK;
    const dw_type_status guarded = detail::Guard(error, [&] {
      const State& typed_state = *static_cast<const State*>(state);
      if (typed_state.reset_failed) throw std::runtime_error(ResetFailure(typed_state));
      StateWriter writer;
      typed_state.detector.Save(writer);
      *size_out = writer.bytes().size();
      if (writer.bytes().size() > capacity) {
        status = DW_STATUS_BUFFER_TOO_SMALL;
        return;
      }
      if (!writer.bytes().empty()) {
        std::memcpy(buffer, writer.bytes().data(), writer.bytes().size());
      }
    });
    return guarded != DW_STATUS_OK ? guarded : status;
  }

  static dw_type_status Restore(const void* config, void* state, const uint8_t* data, size_t size,
                                dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      const auto& typed_config = *static_cast<const Config*>(config);
      T restored(typed_config);  // restore into a copy so a failure leaves the state untouched
      StateReader reader(data, size);
      restored.Restore(typed_config, reader);
      reader.ExpectEnd();
      State& typed_state = *static_cast<State*>(state);
      typed_state.detector = std::move(restored);
      typed_state.reset_failed = false;  // a restored state is whole again
      typed_state.reset_failure.clear();
    });
  }

  // Runs T::Reset, keeping the message of an exception for the calls that can report it.
  static void TryReset(State& state, const Config& config) noexcept {
    dw_type_error caught{};
    state.reset_failed =
        detail::Guard(&caught, [&] { state.detector.Reset(config); }) != DW_STATUS_OK;
    state.reset_failure.clear();
    if (!state.reset_failed) return;
    try {
      state.reset_failure = caught.message;
    } catch (...) {  // out of memory: the report still says that the reset failed
    }
  }
  static std::string ResetFailure(const State& state) {
    return state.reset_failure.empty() ? "reset failed" : "reset failed: " + state.reset_failure;
  }

  static const dw_type_detector* Get() noexcept {
    constexpr bool kFollowsTheContract = detail::CheckDetectorClass<T>();
    if constexpr (!kFollowsTheContract) {
      return nullptr;  // unreachable: the failed static_assert stops the build, alone
    } else {
      return Vtable();
    }
  }

 private:
  static const dw_type_detector* Vtable() noexcept {
    static const dw_type_detector vtable = {
        static_cast<uint32_t>(sizeof(dw_type_detector)),
        T::kName,
        T::kVersion,
        T::kRole,
        &ConfigNew,
        &ConfigDestroy,
        &StateNew,
        &StateDestroy,
        &Observe,
        &Reset,
        &Save,
        &Restore,
    };
    return &vtable;
  }
};

// The C vtable of storage class T, which provides:
//   static constexpr const char* kName, kVersion;
//   static T* Open(Params& params);                       // throws StorageError / ParamError
//   void Write(const dw_type_write_batch& batch);          // atomic
//   void ScanServices(dw_type_service_callback callback, void* context);
//   void ScanSamples(const char* service_id, uint64_t after_seq, dw_type_sample_callback callback,
//                    void* context);
//   void QueryEvents(const char* service_id, uint32_t limit, dw_type_event_callback callback,
//                    void* context);
//   void Stats(dw_type_storage_stats& stats);
//   uint64_t Purge(int64_t samples_before_ms, int64_t events_before_ms, uint32_t max_rows);
// and may provide (ABI 1.1; without it the host answers that the store cannot forget services):
//   void Forget(const char* service_id);                  // atomic; unknown ids are no error
// and may provide (ABI 1.2; without it the host refuses notification targets): an outbox, whose
// rows Write stores (batch.notifications, batch.notification_updates) and Forget and Purge delete:
//   void ScanNotifications(const char* target, int32_t state, uint32_t limit, bool newest_first,
//                          dw_type_notification_callback callback, void* context);
// and may declare (ABI 1.3; without it the features are 0, and the host sends no sample tags):
//   static constexpr uint32_t kFeatures = DW_STORAGE_FEATURE_SAMPLE_TAGS;  // DW_STORAGE_FEATURE_*
// with which Write gets batch.sample_tags, and must keep to "Sample tags" in plugin.h.
// The destructor closes the store and must not throw. Get() checks the list at compile time. See
// plugin.h for what each must do; a callback's non-zero answer means return at once.
template <typename T>
struct StorageType {
  // Like a detector's configuration, a parameter Open did not ask for is refused (a typo, almost
  // always). Call params.Finish() in Open before touching anything, so that a refused
  // configuration leaves nothing behind: checked here only after Open, it closes the store again.
  static dw_type_status Open(const dw_type_param* params, size_t count, void** store_out,
                             dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      Params reader(params, count);
      std::unique_ptr<T> store(T::Open(reader));
      if (store == nullptr) throw StorageError(DW_STATUS_ERROR, "Open returned no store");
      reader.Finish();
      *store_out = store.release();
    });
  }
  static void Close(void* store) noexcept { delete static_cast<T*>(store); }  // nothrow: checked
  static dw_type_status Write(void* store, const dw_type_write_batch* batch,
                              dw_type_error* error) noexcept {
    return detail::Guard(error, [&] { static_cast<T*>(store)->Write(*batch); });
  }
  static dw_type_status ScanServices(void* store, dw_type_service_callback callback, void* context,
                                     dw_type_error* error) noexcept {
    return detail::Guard(error, [&] { static_cast<T*>(store)->ScanServices(callback, context); });
  }
  static dw_type_status ScanSamples(void* store, const char* service_id, uint64_t after_seq,
                                    dw_type_sample_callback callback, void* context,
                                    dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      static_cast<T*>(store)->ScanSamples(service_id, after_seq, callback, context);
    });
  }
  static dw_type_status QueryEvents(void* store, const char* service_id, uint32_t limit,
                                    dw_type_event_callback callback, void* context,
                                    dw_type_error* error) noexcept {
    return detail::Guard(
        error, [&] { static_cast<T*>(store)->QueryEvents(service_id, limit, callback, context); });
  }
  static dw_type_status Stats(void* store, dw_type_storage_stats* stats,
                              dw_type_error* error) noexcept {
    return detail::Guard(error, [&] { static_cast<T*>(store)->Stats(*stats); });
  }
  static dw_type_status Purge(void* store, int64_t samples_before_ms, int64_t events_before_ms,
                              uint32_t max_rows, uint64_t* deleted_out,
                              dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      *deleted_out = static_cast<T*>(store)->Purge(samples_before_ms, events_before_ms, max_rows);
    });
  }
  static dw_type_status Forget(void* store, const char* service_id, dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      if constexpr (detail::kHas<detail::ForgetOp, T>) static_cast<T*>(store)->Forget(service_id);
    });
  }

  static dw_type_status ScanNotifications(void* store, const char* target, int32_t state,
                                          uint32_t limit, int32_t newest_first,
                                          dw_type_notification_callback callback, void* context,
                                          dw_type_error* error) noexcept {
    return detail::Guard(error, [&] {
      if constexpr (detail::kHas<detail::ScanNotificationsOp, T>) {
        static_cast<T*>(store)->ScanNotifications(target, state, limit, newest_first != 0, callback,
                                                  context);
      }
    });
  }

  static const dw_type_storage* Get() noexcept {
    constexpr bool kFollowsTheContract = detail::CheckStorageClass<T>();
    if constexpr (!kFollowsTheContract) {
      return nullptr;  // unreachable: the failed static_assert stops the build, alone
    } else {
      return Vtable();
    }
  }

 private:
  static const dw_type_storage* Vtable() noexcept {
    static const dw_type_storage vtable = {
        static_cast<uint32_t>(sizeof(dw_type_storage)),
        T::kName,
        T::kVersion,
        &Open,
        &Close,
        &Write,
        &ScanServices,
        &ScanSamples,
        &QueryEvents,
        &Stats,
        &Purge,
        detail::kHas<detail::ForgetOp, T> ? &Forget : nullptr,
        detail::kHas<detail::ScanNotificationsOp, T> ? &ScanNotifications : nullptr,
        detail::FeaturesOf<T>(),
    };
    return &vtable;
  }
};

}  // namespace sdk
}  // namespace driftwatch

// Lists of what a plugin provides, for DRIFTWATCH_PLUGIN: vtable pointers, e.g.
// driftwatch::sdk::DetectorType<MyDetector>::Get().
#define DRIFTWATCH_DETECTORS(...)                                \
  const dw_type_detector* const dw_detectors_[] = {__VA_ARGS__}; \
  static const size_t dw_detector_count_ = sizeof(dw_detectors_) / sizeof(dw_detectors_[0])
#define DRIFTWATCH_STORAGES(...)                               \
  const dw_type_storage* const dw_storages_[] = {__VA_ARGS__}; \
  static const size_t dw_storage_count_ = sizeof(dw_storages_) / sizeof(dw_storages_[0])
#define DRIFTWATCH_NO_DETECTORS                                 \
  const dw_type_detector* const* const dw_detectors_ = nullptr; \
  static const size_t dw_detector_count_ = 0
#define DRIFTWATCH_NO_STORAGES                                \
  const dw_type_storage* const* const dw_storages_ = nullptr; \
  static const size_t dw_storage_count_ = 0

// Defines the plugin's exported entry point. Use once per plugin, at namespace scope:
//   DRIFTWATCH_PLUGIN("my_plugin", "1.0.0",
//                     DRIFTWATCH_DETECTORS(driftwatch::sdk::DetectorType<MyDetector>::Get()),
//                     DRIFTWATCH_NO_STORAGES);
#define DRIFTWATCH_PLUGIN(plugin_name, plugin_version, detectors_list, storages_list) \
  extern "C" DW_PLUGIN_EXPORT const dw_type_plugin* DW_PLUGIN_ENTRY_NAME(void) {      \
    static detectors_list; /* NOLINT(bugprone-macro-parentheses): a declaration */    \
    static storages_list;  /* NOLINT(bugprone-macro-parentheses): a declaration */    \
    static const dw_type_plugin plugin = {                                            \
        static_cast<uint32_t>(sizeof(dw_type_plugin)),                                \
        DW_ABI_VERSION_MAJOR,                                                         \
        DW_ABI_VERSION_MINOR,                                                         \
        plugin_name,                                                                  \
        plugin_version,                                                               \
        dw_detectors_,                                                                \
        dw_detector_count_,                                                           \
        dw_storages_,                                                                 \
        dw_storage_count_,                                                            \
    };                                                                                \
    return &plugin;                                                                   \
  }

#endif  // DRIFTWATCH_PLUGIN_HPP
