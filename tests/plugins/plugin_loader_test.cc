// The plugin loader against real .so files: the bundled detectors load; every fixture that breaks
// the ABI handshake is refused with a message naming the file (and both versions), never a crash.
#include "core/plugin_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace driftwatch {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kBundledDir = DRIFTWATCH_TEST_PLUGIN_DIR;
const std::string kFixtureDir = DRIFTWATCH_TEST_FIXTURE_DIR;

std::string Fixture(const std::string& name) { return kFixtureDir + "/" + name + ".so"; }

std::string HostAbi() {
  return std::to_string(DW_ABI_VERSION_MAJOR) + "." + std::to_string(DW_ABI_VERSION_MINOR);
}

// Loads one file into a fresh registry and returns the refusal ("" if it loaded).
std::string Refusal(const std::string& path) {
  PluginRegistry registry;
  Status status = registry.LoadFile(path);
  return status.ok() ? "" : status.message();
}

TEST(PluginLoaderTest, BundledDetectorsLoadFromTheBuildTree) {
  PluginRegistry registry;
  for (const char* name : {"zscore_severe", "moderate_window", "recovery"}) {
    const std::string path = kBundledDir + "/" + name + ".so";
    Status status = registry.LoadFile(path);
    ASSERT_TRUE(status.ok()) << status.message();
    const dw_type_detector* detector = registry.FindDetector(name);
    ASSERT_NE(detector, nullptr) << name;
    EXPECT_EQ(registry.SourceOf(name), path);
  }
  EXPECT_EQ(registry.FindDetector("zscore_severe")->role, DW_DETECTOR_ROLE_TRIGGER);
  EXPECT_EQ(registry.FindDetector("moderate_window")->role, DW_DETECTOR_ROLE_TRIGGER);
  EXPECT_EQ(registry.FindDetector("recovery")->role, DW_DETECTOR_ROLE_RECOVERY);
  ASSERT_EQ(registry.plugins().size(), 3u);
  for (const LoadedPlugin& plugin : registry.plugins()) {
    EXPECT_EQ(plugin.abi_major, DW_ABI_VERSION_MAJOR) << plugin.path;
    EXPECT_FALSE(plugin.name.empty()) << plugin.path;
    EXPECT_FALSE(plugin.version.empty()) << plugin.path;
  }
  EXPECT_EQ(registry.FindDetector("no_such_detector"), nullptr);
  EXPECT_EQ(registry.FindStorage("zscore_severe"), nullptr);  // a detector is not a storage
}

TEST(PluginLoaderTest, BundledDirIsNextToTheExecutable) {
  // Test executables land in <build>/bin like the service, so they find the same directory.
  EXPECT_EQ(std::filesystem::weakly_canonical(BundledPluginDir()),
            std::filesystem::weakly_canonical(kBundledDir));
}

TEST(PluginLoaderTest, RefusesAnotherMajorNamingBothVersions) {
  const std::string path = Fixture("fixture_wrong_major");
  EXPECT_EQ(Refusal(path), path + ": plugin requires DriftWatch ABI " +
                               std::to_string(DW_ABI_VERSION_MAJOR + 1) + "." +
                               std::to_string(DW_ABI_VERSION_MINOR) + "; host provides " +
                               HostAbi() + ": major versions differ");
}

TEST(PluginLoaderTest, RefusesANewerMinorNamingBothVersions) {
  const std::string path = Fixture("fixture_newer_minor");
  EXPECT_EQ(Refusal(path), path + ": plugin requires DriftWatch ABI " +
                               std::to_string(DW_ABI_VERSION_MAJOR) + "." +
                               std::to_string(DW_ABI_VERSION_MINOR + 1) + "; host provides " +
                               HostAbi() + ": plugin is newer than the host");
}

// The same refusals for a plugin built with the C++ layer and the ABI version macros given on the
// command line (tests/plugins/CMakeLists.txt): the descriptor carries the version given.
TEST(PluginLoaderTest, AnOverriddenAbiVersionReachesTheDescriptor) {
  const std::string next_major = Fixture("fixture_override_major");
  EXPECT_EQ(Refusal(next_major), next_major + ": plugin requires DriftWatch ABI " +
                                     std::to_string(DW_ABI_VERSION_MAJOR + 1) + "." +
                                     std::to_string(DW_ABI_VERSION_MINOR) + "; host provides " +
                                     HostAbi() + ": major versions differ");
  const std::string next_minor = Fixture("fixture_override_minor");
  EXPECT_EQ(Refusal(next_minor), next_minor + ": plugin requires DriftWatch ABI " +
                                     std::to_string(DW_ABI_VERSION_MAJOR) + "." +
                                     std::to_string(DW_ABI_VERSION_MINOR + 1) + "; host provides " +
                                     HostAbi() + ": plugin is newer than the host");
}

// A plugin of an older minor (today 1.2: no sample tags) loads, and keeps the version it claims.
TEST(PluginLoaderTest, LoadsAPluginOfThePreviousMinor) {
  const std::string path = Fixture("fixture_override_previous_minor");
  PluginRegistry registry;
  const Status status = registry.LoadFile(path);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].abi_major, DW_ABI_VERSION_MAJOR);
  EXPECT_EQ(registry.plugins()[0].abi_minor, DW_ABI_VERSION_MINOR - 1);
  EXPECT_NE(registry.FindDetector("fixture_override"), nullptr);
}

TEST(PluginLoaderTest, RefusesAPluginThatOnlyExportsAnotherMajorsEntryPoint) {
  const std::string path = Fixture("fixture_v2_entry");
  EXPECT_EQ(Refusal(path), path + ": plugin requires DriftWatch ABI 2.x; host provides " +
                               HostAbi() + ": major versions differ");
}

TEST(PluginLoaderTest, RefusesStructsSmallerThanVersion1) {
  EXPECT_EQ(Refusal(Fixture("fixture_small_plugin_struct")),
            Fixture("fixture_small_plugin_struct") +
                ": descriptor struct_size 24 is smaller than the ABI 1.0 dw_type_plugin (" +
                std::to_string(sizeof(dw_type_plugin)) + " bytes)");
  EXPECT_EQ(Refusal(Fixture("fixture_small_detector_struct")),
            Fixture("fixture_small_detector_struct") +
                ": detector #0 has struct_size 16, smaller than the ABI 1.0 dw_type_detector (" +
                std::to_string(sizeof(dw_type_detector)) + " bytes)");
}

TEST(PluginLoaderTest, RefusesNullRequiredFunctionBadRoleAndNullDescriptor) {
  EXPECT_EQ(Refusal(Fixture("fixture_null_function")),
            Fixture("fixture_null_function") +
                ": detector 'fixture_flawed': required function on_observe is null");
  EXPECT_EQ(Refusal(Fixture("fixture_bad_role")),
            Fixture("fixture_bad_role") + ": detector 'fixture_flawed' has an unknown role 7");
  EXPECT_EQ(Refusal(Fixture("fixture_null_descriptor")),
            Fixture("fixture_null_descriptor") + ": the entry point returned no descriptor");
}

TEST(PluginLoaderTest, RefusesALibraryWithoutTheEntryPoint) {
  const std::string path = Fixture("fixture_no_entry");
  EXPECT_EQ(Refusal(path),
            path + ": not a DriftWatch plugin: it does not export " + DW_PLUGIN_ENTRY_SYMBOL);
}

TEST(PluginLoaderTest, RefusesFilesTheDynamicLoaderRejectsWithItsMessage) {
  const std::string text = Fixture("fixture_not_a_library");
  EXPECT_EQ(Refusal(text), text + ": cannot load: invalid ELF header");

  const std::string unresolved = Fixture("fixture_unresolved");
  EXPECT_THAT(Refusal(unresolved),
              AllOf(StartsWith(unresolved + ": cannot load: "),
                    HasSubstr("undefined symbol: fixture_function_nobody_defines")));
  EXPECT_THAT(Refusal(unresolved), Not(HasSubstr(": " + unresolved)));  // the path once

  const std::string missing = kFixtureDir + "/no_such_plugin.so";
  EXPECT_THAT(Refusal(missing), AllOf(StartsWith(missing + ": cannot load: "),
                                      HasSubstr("No such file or directory")));
}

TEST(PluginLoaderTest, RefusesADetectorNameAlreadyLoadedAndKeepsTheFirst) {
  const std::filesystem::path copy_dir =
      std::filesystem::path(::testing::TempDir()) / "driftwatch_plugin_copy";
  std::filesystem::create_directories(copy_dir);
  const std::filesystem::path copy = copy_dir / "copy_of_fixture_detectors.so";
  std::filesystem::copy_file(Fixture("fixture_detectors"), copy,
                             std::filesystem::copy_options::overwrite_existing);

  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadFile(Fixture("fixture_detectors")).ok());
  // The very same file again is the same plugin, not a clash.
  EXPECT_TRUE(registry.LoadFile(Fixture("fixture_detectors")).ok());
  Status status = registry.LoadFile(copy.string());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), copy.string() +
                                  ": detector 'fixture_trigger' is already provided by " +
                                  Fixture("fixture_detectors"));
  EXPECT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.SourceOf("fixture_trigger"), Fixture("fixture_detectors"));
  std::filesystem::remove_all(copy_dir);
}

TEST(PluginLoaderTest, LoadDirectoryLoadsTheGoodAndListsEveryRefusal) {
  PluginRegistry registry;
  std::vector<std::string> errors;
  ASSERT_TRUE(registry.LoadDirectory(kFixtureDir, &errors).ok());

  // Loaded in name order: clash_a, clash_b, detectors, override_previous_minor.
  std::vector<std::string> loaded;
  for (const LoadedPlugin& plugin : registry.plugins()) loaded.push_back(plugin.name);
  EXPECT_THAT(loaded, ElementsAre("fixture_clash_a", "fixture_clash_b", "fixture_detectors",
                                  "fixture_override"));
  EXPECT_THAT(
      registry.DetectorNames(),
      ElementsAre("fixture_clash_a", "fixture_clash_b", "fixture_trigger", "fixture_recovery",
                  "fixture_config_fails", "fixture_config_fails_silently", "fixture_throws",
                  "fixture_reset_throws", "fixture_self_naming", "fixture_override"));

  std::vector<std::string> refused_files;
  for (const std::string& error : errors) refused_files.push_back(error.substr(0, error.find(':')));
  EXPECT_THAT(refused_files,
              ElementsAre(Fixture("fixture_bad_role"), Fixture("fixture_newer_minor"),
                          Fixture("fixture_no_entry"), Fixture("fixture_not_a_library"),
                          Fixture("fixture_null_descriptor"), Fixture("fixture_null_function"),
                          Fixture("fixture_override_major"), Fixture("fixture_override_minor"),
                          Fixture("fixture_small_detector_struct"),
                          Fixture("fixture_small_plugin_struct"), Fixture("fixture_unresolved"),
                          Fixture("fixture_v2_entry"), Fixture("fixture_wrong_major")));
}

TEST(PluginLoaderTest, LoadDirectoryRefusesAMissingDirectory) {
  PluginRegistry registry;
  std::vector<std::string> errors;
  const std::string missing = kFixtureDir + "/no_such_dir";
  Status status = registry.LoadDirectory(missing, &errors);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), missing + ": plugin directory does not exist");
  EXPECT_TRUE(errors.empty());
}

// Calls a detector's functions straight through its C vtable, as the host does.
struct RawDetector {
  explicit RawDetector(const dw_type_detector* vtable) : detector(vtable) {
    dw_type_error error{};
    EXPECT_EQ(detector->on_config_new(nullptr, 0, &config, &error), DW_STATUS_OK) << error.message;
    EXPECT_EQ(detector->on_state_new(config, &state, &error), DW_STATUS_OK) << error.message;
  }
  ~RawDetector() {
    detector->on_state_destroy(config, state);
    detector->on_config_destroy(config);
  }
  dw_type_status Observe(double value, dw_type_verdict* verdict, dw_type_error* error) {
    dw_type_observation observation{sizeof(dw_type_observation), value, 5.0, 5.0, 0};
    *verdict = dw_type_verdict{};
    verdict->struct_size = sizeof(dw_type_verdict);
    *error = dw_type_error{};
    error->param_index = -1;
    return detector->on_observe(config, state, &observation, verdict, error);
  }
  const dw_type_detector* detector;
  void* config = nullptr;
  void* state = nullptr;
};

TEST(PluginLoaderTest, AnExceptionInAPluginComesBackAsAStatusAndAMessage) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadFile(Fixture("fixture_detectors")).ok());
  RawDetector throwing(registry.FindDetector("fixture_throws"));
  dw_type_verdict verdict;
  dw_type_error error;

  EXPECT_EQ(throwing.Observe(1.0, &verdict, &error), DW_STATUS_ERROR);
  EXPECT_STREQ(error.message, "fixture observe exploded");
  EXPECT_EQ(verdict.kind, DW_VERDICT_NONE);

  EXPECT_EQ(throwing.Observe(-1.0, &verdict, &error), DW_STATUS_ERROR);  // throws an int
  EXPECT_STREQ(error.message, "unknown exception");
}

TEST(PluginLoaderTest, SameInternalSymbolsInTwoPluginsStayApart) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadFile(Fixture("fixture_clash_a")).ok());
  ASSERT_TRUE(registry.LoadFile(Fixture("fixture_clash_b")).ok());
  RawDetector a(registry.FindDetector("fixture_clash_a"));
  RawDetector b(registry.FindDetector("fixture_clash_b"));
  dw_type_verdict verdict;
  dw_type_error error;

  // Each verdict reports {identity, counter} as the plugin's own code sees them.
  auto observe = [&](RawDetector& detector) {
    EXPECT_EQ(detector.Observe(1.0, &verdict, &error), DW_STATUS_OK) << error.message;
    EXPECT_EQ(verdict.field_count, 2u);
    return std::vector<double>{verdict.fields[0].value, verdict.fields[1].value};
  };
  // Counters are compared with their first values: the libraries stay loaded for the process.
  const std::vector<double> a1 = observe(a);
  const std::vector<double> b1 = observe(b);
  EXPECT_EQ(a1[0], 1.0);
  EXPECT_EQ(b1[0], 2.0);
  EXPECT_THAT(observe(a), ElementsAre(1.0, a1[1] + 1));
  EXPECT_THAT(observe(a), ElementsAre(1.0, a1[1] + 2));
  EXPECT_THAT(observe(b), ElementsAre(2.0, b1[1] + 1));
}

}  // namespace
}  // namespace driftwatch
