#include "core/timestamp.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace driftwatch {
namespace {

constexpr int64_t kExampleMs = 1768213845123;  // 2026-01-12T10:30:45.123Z

TEST(TimestampTest, ParsesUtcWithMilliseconds) {
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45.123Z"), kExampleMs);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseTimestamp("2026-01-12t10:30:45.123z"), kExampleMs);
  EXPECT_EQ(ParseTimestamp("2026-01-12 10:30:45.123Z"), kExampleMs);
}

TEST(TimestampTest, AppliesOffsets) {
  EXPECT_EQ(ParseTimestamp("2026-01-12T12:30:45.123+02:00"), kExampleMs);
  EXPECT_EQ(ParseTimestamp("2026-01-12T05:00:45.123-05:30"), kExampleMs);
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45.123+00:00"), kExampleMs);
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45.123-00:00"), kExampleMs);
  // An offset can move the instant across a day and a year boundary.
  EXPECT_EQ(ParseTimestamp("2025-12-31T23:00:00-01:00"), 1767225600000);
}

TEST(TimestampTest, FractionIsOptionalAndTruncatedToMilliseconds) {
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45Z"), kExampleMs - 123);
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45.1Z"), kExampleMs - 23);
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45.12Z"), kExampleMs - 3);
  EXPECT_EQ(ParseTimestamp("2026-01-12T10:30:45.123999999Z"), kExampleMs);
}

TEST(TimestampTest, LeapYearsFollowTheGregorianRules) {
  EXPECT_EQ(ParseTimestamp("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(ParseTimestamp("2000-02-29T23:59:59.999Z"), 951868799999);
  EXPECT_FALSE(ParseTimestamp("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseTimestamp("2100-02-29T00:00:00Z"));
  EXPECT_EQ(ParseTimestamp("1900-03-01T00:00:00Z"), -2203891200000);
}

TEST(TimestampTest, RejectsWhatIsNotAnRfc3339DateTime) {
  for (const char* text : {
           "",
           "2026-01-12",                 // no time
           "2026-01-12T10:30:45",        // no offset: local time would be a guess
           "2026-01-12T10:30:45.123",    // same, with a fraction
           "2026-13-01T00:00:00Z",       // month 13
           "2026-00-01T00:00:00Z",       // month 0
           "2026-04-31T00:00:00Z",       // April has 30 days
           "2026-01-00T00:00:00Z",       // day 0
           "2026-01-12T24:00:00Z",       // hour 24
           "2026-01-12T10:60:00Z",       // minute 60
           "2026-01-12T10:30:61Z",       // second 61
           "2026-01-12T10:30:45.Z",      // a dot without digits
           "2026-01-12T10:30:45+0200",   // offset without a colon
           "2026-01-12T10:30:45+24:00",  // offset hour 24
           "2026-01-12T10:30:45+02:60",  // offset minute 60
           "2026-01-12T10:30:45Zx",      // trailing text
           " 2026-01-12T10:30:45Z",      // leading space
           "26-01-12T10:30:45Z",         // two-digit year
           "2026/01/12T10:30:45Z",       // wrong separators
           "2026-01-12X10:30:45Z",       // wrong date-time separator
           "2026-1-12T10:30:45Z",        // one-digit month
           "1768213845123",              // epoch milliseconds are not a date-time
       }) {
    EXPECT_FALSE(ParseTimestamp(text)) << text;
  }
}

TEST(TimestampTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(kExampleMs), "2026-01-12T10:30:45.123Z");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(1709164800000), "2024-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(TimestampTest, FormatAndParseRoundTrip) {
  // Every millisecond of a few interesting days, sampled with a stride coprime to a day.
  for (const int64_t start : {int64_t{-2203891200000}, int64_t{0}, int64_t{951782400000},
                              int64_t{1709164800000}, kExampleMs}) {
    for (int64_t offset = 0; offset < 86400000; offset += 7919777) {
      const int64_t ms = start + offset;
      EXPECT_EQ(ParseTimestamp(FormatTimestamp(ms)), ms) << FormatTimestamp(ms);
    }
  }
}

TEST(TimestampTest, NowIsAfterThisCodeWasWritten) {
  EXPECT_GT(NowMs(), 1709164800000);  // 2024-02-29
}

}  // namespace
}  // namespace driftwatch
