// Status kinds, and the plugins' dw_type_status codes surviving the trip through the adapters
// that call plugins (core/plugin_status.h): a caller decides by kind, never by message.
#include "core/plugin_status.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"

namespace driftwatch {
namespace {

using Kind = Status::Kind;

dw_type_error ErrorSaying(const char* message) {
  dw_type_error error{};
  error.param_index = -1;
  std::strncpy(error.message, message, sizeof error.message - 1);
  return error;
}

TEST(StatusKinds, ErrorStaysWhatItWasAndIsInternal) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status::Ok().kind(), Kind::kOk);
  const Status error = Status::Error("went wrong");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.kind(), Kind::kInternal);
  EXPECT_EQ(error.message(), "went wrong");
}

TEST(StatusKinds, EachConstructorGivesItsKind) {
  EXPECT_EQ(Status::InvalidArgument("x").kind(), Kind::kInvalidArgument);
  EXPECT_EQ(Status::NotFound("x").kind(), Kind::kNotFound);
  EXPECT_EQ(Status::Corrupt("x").kind(), Kind::kCorrupt);
  EXPECT_EQ(Status::IoError("x").kind(), Kind::kIoError);
  EXPECT_EQ(Status::Busy("x").kind(), Kind::kBusy);
  EXPECT_EQ(Status::Internal("x").kind(), Kind::kInternal);
  EXPECT_FALSE(Status::Busy("x").ok());
  // A failure can never read as success, even when built from kOk.
  const Status odd = Status::Failure(Kind::kOk, "no");
  EXPECT_FALSE(odd.ok());
  EXPECT_EQ(odd.kind(), Kind::kInternal);
  EXPECT_EQ(Status::KindName(Kind::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(Status::KindName(Kind::kIoError), "io_error");
}

TEST(PluginStatus, EveryCodeHasItsKind) {
  EXPECT_EQ(KindOfPluginStatus(DW_STATUS_OK), Kind::kOk);
  EXPECT_EQ(KindOfPluginStatus(DW_STATUS_ERROR), Kind::kInternal);
  EXPECT_EQ(KindOfPluginStatus(DW_STATUS_INVALID_ARGUMENT), Kind::kInvalidArgument);
  EXPECT_EQ(KindOfPluginStatus(DW_STATUS_BUFFER_TOO_SMALL), Kind::kInternal);
  EXPECT_EQ(KindOfPluginStatus(DW_STATUS_IO_ERROR), Kind::kIoError);
  EXPECT_EQ(KindOfPluginStatus(DW_STATUS_CORRUPT), Kind::kCorrupt);
  EXPECT_EQ(KindOfPluginStatus(static_cast<dw_type_status>(99)), Kind::kInternal);  // a newer code
}

TEST(PluginStatus, FailureKeepsTheMessageOrSaysTheCode) {
  dw_type_error error = ErrorSaying("disk full");
  Status status = PluginFailure(DW_STATUS_IO_ERROR, error, "sqlite: ");
  EXPECT_EQ(status.kind(), Kind::kIoError);
  EXPECT_EQ(status.message(), "sqlite: disk full");

  dw_type_error silent = ErrorSaying("");
  status = PluginFailure(DW_STATUS_CORRUPT, silent);
  EXPECT_EQ(status.kind(), Kind::kCorrupt);
  EXPECT_EQ(status.message(), "failed with status 5");

  dw_type_error unterminated{};
  std::memset(unterminated.message, 'x', sizeof unterminated.message);  // no NUL anywhere
  status = PluginFailure(DW_STATUS_INVALID_ARGUMENT, unterminated);
  EXPECT_EQ(status.message(), std::string(DW_ERROR_MESSAGE_SIZE - 1, 'x'));
}

// Through core/detector.cc, with a bundled plugin: bytes it cannot read are corrupt, parameters it
// refuses are invalid arguments.
TEST(PluginStatus, DetectorCodesSurviveTheAdapter) {
  PluginRegistry registry;
  const Status loaded =
      registry.LoadFile(std::string(DRIFTWATCH_TEST_PLUGIN_DIR) + "/zscore_severe.so");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const dw_type_detector* vtable = registry.FindDetector("zscore_severe");
  ASSERT_NE(vtable, nullptr);

  std::unique_ptr<ConfiguredDetector> detector;
  int32_t bad_param = -1;
  Status status = ConfiguredDetector::Create(vtable, {{"threshold", "-1"}}, &detector, &bad_param);
  EXPECT_EQ(status.kind(), Kind::kInvalidArgument) << status.message();
  EXPECT_EQ(bad_param, 0);

  ASSERT_TRUE(ConfiguredDetector::Create(vtable, {}, &detector, &bad_param).ok());
  void* state = nullptr;
  ASSERT_TRUE(detector->NewState(&state).ok());
  status = detector->Restore(state, "not a saved state");
  EXPECT_EQ(status.kind(), Kind::kCorrupt) << status.message();
  detector->DestroyState(state);

  EXPECT_EQ(ConfiguredDetector::Create(nullptr, {}, &detector, &bad_param).kind(), Kind::kNotFound);
}

}  // namespace
}  // namespace driftwatch
