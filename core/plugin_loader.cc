#include "core/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch {
namespace {

namespace fs = boost::filesystem;

// The sizes of the v1.0 structs: the end of their last v1.0 member. A later minor only appends, so
// these stay right when plugin.h grows; a plugin's struct_size must be at least this. What a minor
// appended (on_forget, on_scan_notifications, features) is optional, so it is not checked here:
// core/storage.cc reads it only where the plugin's struct_size covers it.
#define DW_V1_0_SIZE(type, last_member) (offsetof(type, last_member) + sizeof(type::last_member))
constexpr size_t kPluginSizeV1_0 = DW_V1_0_SIZE(dw_type_plugin, storage_count);
constexpr size_t kDetectorSizeV1_0 = DW_V1_0_SIZE(dw_type_detector, on_state_restore);
constexpr size_t kStorageSizeV1_0 = DW_V1_0_SIZE(dw_type_storage, on_purge);
#undef DW_V1_0_SIZE

// Every library ever loaded, kept for the life of the process and never destroyed: unloading a
// plugin (or running its static destructors at exit while a thread still uses it) is where the
// crashes are. A refused library stays loaded too: its initialisers have already run.
struct KeptLibraries {
  std::mutex mutex;
  std::vector<boost::dll::shared_library> libraries;
};
KeptLibraries& Kept() {
  static auto* kept = new KeptLibraries();
  return *kept;
}

std::string Version(unsigned major, unsigned minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string HostVersion() { return Version(DW_ABI_VERSION_MAJOR, DW_ABI_VERSION_MINOR); }

// Detector names are YAML keys and appear in stored events: [a-z0-9_]+.
bool IsValidDetectorName(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* c = name; *c != '\0'; ++c) {
    const bool ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (!ok) return false;
  }
  return true;
}

// Why a detector vtable is unusable, or "" when it is fine.
std::string CheckDetector(const dw_type_detector* detector, size_t index) {
  const std::string which = "detector #" + std::to_string(index);
  if (detector == nullptr) return which + " is null";
  if (detector->struct_size < kDetectorSizeV1_0) {
    return which + " has struct_size " + std::to_string(detector->struct_size) +
           ", smaller than the ABI 1.0 dw_type_detector (" + std::to_string(kDetectorSizeV1_0) +
           " bytes)";
  }
  if (detector->name == nullptr) return which + " has no name";
  const std::string named = "detector '" + std::string(detector->name) + "'";
  if (!IsValidDetectorName(detector->name)) return named + ": name must match [a-z0-9_]+";
  if (detector->version == nullptr) return named + " has no version";
  if (detector->role != DW_DETECTOR_ROLE_TRIGGER && detector->role != DW_DETECTOR_ROLE_RECOVERY) {
    return named + " has an unknown role " + std::to_string(detector->role);
  }
  const std::pair<const char*, bool> required[] = {
      {"on_config_new", detector->on_config_new != nullptr},
      {"on_config_destroy", detector->on_config_destroy != nullptr},
      {"on_state_new", detector->on_state_new != nullptr},
      {"on_state_destroy", detector->on_state_destroy != nullptr},
      {"on_observe", detector->on_observe != nullptr},
      {"on_reset", detector->on_reset != nullptr},
      {"on_state_save", detector->on_state_save != nullptr},
      {"on_state_restore", detector->on_state_restore != nullptr},
  };
  for (const auto& [function, present] : required) {
    if (!present) return named + ": required function " + function + " is null";
  }
  return "";
}

// Why a storage vtable is unusable, or "" when it is fine.
std::string CheckStorage(const dw_type_storage* storage, size_t index) {
  const std::string which = "storage #" + std::to_string(index);
  if (storage == nullptr) return which + " is null";
  if (storage->struct_size < kStorageSizeV1_0) {
    return which + " has struct_size " + std::to_string(storage->struct_size) +
           ", smaller than the ABI 1.0 dw_type_storage (" + std::to_string(kStorageSizeV1_0) +
           " bytes)";
  }
  if (storage->name == nullptr || *storage->name == '\0') return which + " has no name";
  const std::string named = "storage '" + std::string(storage->name) + "'";
  if (storage->version == nullptr) return named + " has no version";
  const std::pair<const char*, bool> required[] = {
      {"on_open", storage->on_open != nullptr},
      {"on_close", storage->on_close != nullptr},
      {"on_write", storage->on_write != nullptr},
      {"on_scan_services", storage->on_scan_services != nullptr},
      {"on_scan_samples", storage->on_scan_samples != nullptr},
      {"on_query_events", storage->on_query_events != nullptr},
      {"on_stats", storage->on_stats != nullptr},
      {"on_purge", storage->on_purge != nullptr},
  };
  for (const auto& [function, present] : required) {
    if (!present) return named + ": required function " + function + " is null";
  }
  return "";
}

// Why the descriptor is unusable, or "" when it is fine. Reads only the descriptor and the vtables
// it points to: nothing in the plugin is called.
std::string CheckDescriptor(const dw_type_plugin* plugin) {
  if (plugin == nullptr) return "the entry point returned no descriptor";
  // The version fields come first and keep their place in every major, so they are checked
  // before anything whose layout the version decides.
  const std::string versions = "plugin requires DriftWatch ABI " +
                               Version(plugin->abi_major, plugin->abi_minor) + "; host provides " +
                               HostVersion();
  if (plugin->abi_major != DW_ABI_VERSION_MAJOR) return versions + ": major versions differ";
  if (plugin->abi_minor > DW_ABI_VERSION_MINOR) return versions + ": plugin is newer than the host";
  if (plugin->struct_size < kPluginSizeV1_0) {
    return "descriptor struct_size " + std::to_string(plugin->struct_size) +
           " is smaller than the ABI 1.0 dw_type_plugin (" + std::to_string(kPluginSizeV1_0) +
           " bytes)";
  }
  if (plugin->name == nullptr || *plugin->name == '\0') return "the plugin has no name";
  if (plugin->version == nullptr) return "the plugin has no version";
  if (plugin->detector_count > 0 && plugin->detectors == nullptr) {
    return "detector_count is " + std::to_string(plugin->detector_count) + " but detectors is null";
  }
  if (plugin->storage_count > 0 && plugin->storages == nullptr) {
    return "storage_count is " + std::to_string(plugin->storage_count) + " but storages is null";
  }
  if (plugin->detector_count == 0 && plugin->storage_count == 0) {
    return "the plugin provides no detector and no storage";
  }
  for (size_t i = 0; i < plugin->detector_count; ++i) {
    std::string why = CheckDetector(plugin->detectors[i], i);
    if (!why.empty()) return why;
  }
  for (size_t i = 0; i < plugin->storage_count; ++i) {
    std::string why = CheckStorage(plugin->storages[i], i);
    if (!why.empty()) return why;
  }
  return "";
}

// A library without the v1 entry point may be a plugin built for another major: say so.
std::string MissingEntryMessage(const boost::dll::shared_library& library) {
  constexpr int kMaxMajorProbed = 9;
  for (int major = 1; major <= kMaxMajorProbed; ++major) {
    if (major == DW_ABI_VERSION_MAJOR) continue;
    if (library.has("driftwatch_plugin_v" + std::to_string(major))) {
      return "plugin requires DriftWatch ABI " + std::to_string(major) + ".x; host provides " +
             HostVersion() + ": major versions differ";
    }
  }
  return std::string("not a DriftWatch plugin: it does not export ") + DW_PLUGIN_ENTRY_SYMBOL;
}

}  // namespace

Status PluginRegistry::LoadFile(const std::string& path) {
  boost::system::error_code path_error;
  const fs::path absolute = fs::absolute(fs::path(path), path_error);
  if (path_error) return Status::Error(path + ": " + path_error.message());

  // The same file twice (say, the bundled directory also given as --plugin-dir) is one plugin.
  const fs::path canonical = fs::weakly_canonical(absolute, path_error);
  for (const LoadedPlugin& loaded : plugins_) {
    boost::system::error_code ignored;
    const fs::path loaded_path = fs::weakly_canonical(fs::absolute(loaded.path, ignored), ignored);
    if (!path_error && loaded_path == canonical) {
      return Status::Ok();
    }
  }

  KeptLibraries& kept = Kept();
  std::lock_guard<std::mutex> lock(kept.mutex);
  boost::dll::shared_library loading;
  boost::system::error_code load_error;
  loading.load(absolute, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
               load_error);
  if (load_error || !loading.is_loaded()) {
    // The loader's own words (bad ELF, undefined symbol, ...), without the path it repeats.
    const char* dl_message = dlerror();
    std::string why = dl_message != nullptr ? dl_message : load_error.message();
    const std::string repeated_path = absolute.string() + ": ";
    if (why.rfind(repeated_path, 0) == 0) why.erase(0, repeated_path.size());
    return Status::Error(path + ": cannot load: " + why);
  }
  kept.libraries.push_back(std::move(loading));  // from here on, never unloaded
  const boost::dll::shared_library& library = kept.libraries.back();

  if (!library.has(DW_PLUGIN_ENTRY_SYMBOL)) {
    return Status::Error(path + ": " + MissingEntryMessage(library));
  }
  const auto entry = library.get<const dw_type_plugin*()>(DW_PLUGIN_ENTRY_SYMBOL);
  const dw_type_plugin* plugin = entry();
  const std::string why = CheckDescriptor(plugin);
  if (!why.empty()) return Status::Error(path + ": " + why);

  // Names are one namespace across detectors and storages, and unique across loaded plugins.
  std::vector<Entry> added;
  auto add = [&](const char* name, const dw_type_detector* detector,
                 const dw_type_storage* storage) -> Status {
    const std::string kind = detector != nullptr ? "detector" : "storage";
    for (const Entry& entry_seen : entries_) {
      if (entry_seen.name == name) {
        return Status::Error(path + ": " + kind + " '" + std::string(name) +
                             "' is already provided by " + plugins_[entry_seen.plugin_index].path);
      }
    }
    for (const Entry& entry_seen : added) {
      if (entry_seen.name == name) {
        return Status::Error(path + ": " + kind + " '" + std::string(name) + "' is defined twice");
      }
    }
    added.push_back({name, plugins_.size(), detector, storage});
    return Status::Ok();
  };
  for (size_t i = 0; i < plugin->detector_count; ++i) {
    Status status = add(plugin->detectors[i]->name, plugin->detectors[i], nullptr);
    if (!status.ok()) return status;
  }
  for (size_t i = 0; i < plugin->storage_count; ++i) {
    Status status = add(plugin->storages[i]->name, nullptr, plugin->storages[i]);
    if (!status.ok()) return status;
  }

  plugins_.push_back({path, plugin->name, plugin->version, plugin->abi_major, plugin->abi_minor});
  entries_.insert(entries_.end(), added.begin(), added.end());
  return Status::Ok();
}

Status PluginRegistry::LoadDirectory(const std::string& dir, std::vector<std::string>* errors) {
  boost::system::error_code error;
  if (!fs::is_directory(dir, error)) {
    return Status::Error(dir + ": plugin directory " +
                         (fs::exists(dir, error) ? "is not a directory" : "does not exist"));
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    boost::system::error_code kind_error;  // a broken link is still tried, and refused
    if (it->path().extension() == ".so" && !fs::is_directory(it->path(), kind_error)) {
      files.push_back(it->path());
    }
  }
  if (error) return Status::Error(dir + ": cannot read plugin directory: " + error.message());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    Status status = LoadFile(file.string());
    if (!status.ok() && errors != nullptr) errors->push_back(status.message());
  }
  return Status::Ok();
}

const dw_type_detector* PluginRegistry::FindDetector(std::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.detector != nullptr && entry.name == name) return entry.detector;
  }
  return nullptr;
}

const dw_type_storage* PluginRegistry::FindStorage(std::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.storage != nullptr && entry.name == name) return entry.storage;
  }
  return nullptr;
}

std::string PluginRegistry::SourceOf(std::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.name == name) return plugins_[entry.plugin_index].path;
  }
  return "";
}

std::vector<std::string> PluginRegistry::DetectorNames() const {
  std::vector<std::string> names;
  for (const Entry& entry : entries_) {
    if (entry.detector != nullptr) names.push_back(entry.name);
  }
  return names;
}

Status LoadPlugins(PluginRegistry* registry, const std::vector<std::string>& dirs,
                   std::vector<std::string>* warnings) {
  std::vector<std::string> refusals;
  Status loaded = registry->LoadDirectory(BundledPluginDir(), &refusals);
  if (!loaded.ok()) warnings->push_back("bundled plugins: " + loaded.message());
  for (const std::string& dir : dirs) {
    loaded = registry->LoadDirectory(dir, &refusals);
    if (!loaded.ok()) return Status::Error("plugin directory '" + dir + "': " + loaded.message());
  }
  warnings->insert(warnings->end(), refusals.begin(), refusals.end());
  return Status::Ok();
}

std::string BundledPluginDir() {
  boost::system::error_code error;
  const fs::path executable = boost::dll::program_location(error);
  if (error) return DRIFTWATCH_PLUGIN_RELDIR;  // relative to the working directory, at worst
  return (executable.parent_path() / ".." / DRIFTWATCH_PLUGIN_RELDIR).lexically_normal().string();
}

}  // namespace driftwatch
