// Loads plugins (shared libraries exporting DW_PLUGIN_ENTRY_SYMBOL) with Boost.DLL and checks the
// ABI handshake before calling anything else in them. Libraries are never unloaded while the
// process lives: unloading is where plugin crashes come from.
#pragma once

#include <driftwatch/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftwatch {

struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
};

class PluginRegistry {
 public:
  // Loads one plugin file. Refuses (with a message naming the file and, for a version mismatch,
  // both versions: "plugin requires ABI 2.0; host provides 1.0: major versions differ") a file
  // that is not a loadable library, lacks the entry symbol, has an incompatible ABI version, a
  // too-small struct, a null required function, or a detector/storage name already registered.
  // A file already loaded (same canonical path) is not loaded again, and that is not an error.
  Status LoadFile(const std::string& path);

  // Loads every "*.so" file in `dir`, in name order. Each refusal is appended to `errors` and the
  // rest still load. A missing directory is an error.
  Status LoadDirectory(const std::string& dir, std::vector<std::string>* errors);

  // nullptr when no loaded plugin provides that name.
  const dw_type_detector* FindDetector(std::string_view name) const;
  const dw_type_storage* FindStorage(std::string_view name) const;
  // Where a detector/storage came from (for messages); "" if unknown.
  std::string SourceOf(std::string_view name) const;
  // The names of every loaded detector, in load order (for messages).
  std::vector<std::string> DetectorNames() const;

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }

 private:
  struct Entry {
    std::string name;
    size_t plugin_index;
    const dw_type_detector* detector;
    const dw_type_storage* storage;
  };
  std::vector<LoadedPlugin> plugins_;
  std::vector<Entry> entries_;
};

// The bundled plugin directory: <directory of this executable>/../lib/driftwatch/plugins, which
// is right both in the build tree and after `cmake --install`.
std::string BundledPluginDir();

// How the service and `driftwatch replay` load plugins: the bundled directory first, then each of
// `dirs` in order (the config's plugins.dirs, then --plugin-dir). A refused plugin file, and a
// bundled directory that cannot be read, go to *warnings (the rest still load); a directory of
// `dirs` that cannot be read is an error. A plugin the configuration needs but nobody provides
// fails later, by name.
Status LoadPlugins(PluginRegistry* registry, const std::vector<std::string>& dirs,
                   std::vector<std::string>* warnings);

}  // namespace driftwatch
