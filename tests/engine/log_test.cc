// core/log.h: the three forms of a log line (docs/operations.md, Logs).
#include "core/log.h"

#include <gtest/gtest.h>

#include <string>

namespace driftwatch::log {
namespace {

constexpr int64_t kTime = 1796545800123;  // 2026-12-06T08:30:00.123Z

TEST(LogTest, TextIsTheTerminalLine) {
  EXPECT_EQ(FormatLine(Format::kText, false, Level::kWarning, "storage commit failed", kTime),
            "driftwatch: storage commit failed");
}

TEST(LogTest, TextToTheJournalStartsWithTheSyslogLevel) {
  EXPECT_EQ(FormatLine(Format::kText, true, Level::kError, "x", kTime), "<3>driftwatch: x");
  EXPECT_EQ(FormatLine(Format::kText, true, Level::kWarning, "x", kTime), "<4>driftwatch: x");
  EXPECT_EQ(FormatLine(Format::kText, true, Level::kNotice, "x", kTime), "<5>driftwatch: x");
  EXPECT_EQ(FormatLine(Format::kText, true, Level::kInfo, "x", kTime), "<6>driftwatch: x");
}

TEST(LogTest, OneMessageIsOneLine) {
  EXPECT_EQ(FormatLine(Format::kText, true, Level::kInfo, "a\nb\r\nc", kTime),
            "<6>driftwatch: a b  c");
  const std::string json = FormatLine(Format::kJson, false, Level::kInfo, "a\nb", kTime);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_NE(json.find(R"("message":"a\nb")"), std::string::npos) << json;
}

TEST(LogTest, JsonHasTimeLevelSourceAndMessage) {
  EXPECT_EQ(FormatLine(Format::kJson, false, Level::kWarning, "service 'a\"b' refused", kTime),
            R"({"time":"2026-12-06T08:30:00.123Z","level":"warning","source":"driftwatch",)"
            R"("message":"service 'a\"b' refused"})");
  // The journal changes nothing in JSON: a shipper reads the level from the object.
  EXPECT_EQ(FormatLine(Format::kJson, true, Level::kError, "x", kTime),
            R"({"time":"2026-12-06T08:30:00.123Z","level":"error","source":"driftwatch",)"
            R"("message":"x"})");
}

}  // namespace
}  // namespace driftwatch::log
