// driftwatch-sim's command line (docs/behaviour.md, Command line): defaults, both flag forms, and
// every refusal.
#include "simulator/options.h"

#include <gtest/gtest.h>

#include <vector>

namespace driftwatch::sim {
namespace {

ParseOutcome Parse(std::vector<const char*> arguments, Options* options, std::string* error) {
  arguments.insert(arguments.begin(), "driftwatch-sim");
  return ParseArguments(static_cast<int>(arguments.size()), arguments.data(), options, error);
}

// The message for arguments that must be refused.
std::string Refusal(std::vector<const char*> arguments) {
  Options options;
  std::string error;
  EXPECT_EQ(Parse(arguments, &options, &error), ParseOutcome::kError);
  return error;
}

TEST(OptionsTest, DefaultsAreTheSeedsQuickStart) {
  Options options;
  std::string error;
  ASSERT_EQ(Parse({"--mode", "SPIKE", "--duration", "90"}, &options, &error), ParseOutcome::kRun);
  EXPECT_EQ(options.mode, Mode::kSpike);
  EXPECT_EQ(options.duration_s, 90);
  EXPECT_EQ(options.rate_per_s, 10);
  EXPECT_EQ(options.service, "test-payment-service");
  EXPECT_EQ(options.url, "http://localhost:8000");
  EXPECT_EQ(options.seed, 42u);
  EXPECT_FALSE(options.synthetic_time);
  EXPECT_FALSE(options.verify);
  EXPECT_FALSE(options.json);
  EXPECT_EQ(options.TotalSamples(), 900);
}

TEST(OptionsTest, ReadsEveryFlagInBothForms) {
  Options options;
  std::string error;
  ASSERT_EQ(Parse({"--mode=creep", "--duration=12.5", "--rate", "4", "--service=a.b_c-d:1", "--url",
                   "http://127.0.0.1:9000", "--seed=18446744073709551615", "--synthetic-time",
                   "--verify", "--json"},
                  &options, &error),
            ParseOutcome::kRun)
      << error;
  EXPECT_EQ(options.mode, Mode::kCreep);
  EXPECT_EQ(options.duration_s, 12.5);
  EXPECT_EQ(options.rate_per_s, 4);
  EXPECT_EQ(options.service, "a.b_c-d:1");
  EXPECT_EQ(options.url, "http://127.0.0.1:9000");
  EXPECT_EQ(options.seed, 18446744073709551615u);
  EXPECT_TRUE(options.synthetic_time);
  EXPECT_TRUE(options.verify);
  EXPECT_TRUE(options.json);
  EXPECT_EQ(options.TotalSamples(), 50);
}

TEST(OptionsTest, HelpAndVersionWinOverEverythingElse) {
  Options options;
  std::string error;
  EXPECT_EQ(Parse({"--help"}, &options, &error), ParseOutcome::kHelp);
  EXPECT_EQ(Parse({"--mode", "bogus", "-h"}, &options, &error), ParseOutcome::kHelp);
  EXPECT_EQ(Parse({"--version"}, &options, &error), ParseOutcome::kVersion);
  EXPECT_NE(UsageText().find("--synthetic-time"), std::string::npos);
}

TEST(OptionsTest, RefusesMissingOrBadValuesNamingTheFlag) {
  EXPECT_EQ(Refusal({}), "--mode is required (NORMAL, SPIKE or CREEP)");
  EXPECT_EQ(Refusal({"--mode", "SPIKE"}), "--duration is required (seconds of traffic)");
  EXPECT_EQ(Refusal({"--mode", "RAMP", "--duration", "9"}),
            "--mode must be NORMAL, SPIKE or CREEP, not 'RAMP'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration"}), "--duration needs a value");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "-5"}),
            "--duration must be a positive number, not '-5'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "0"}),
            "--duration must be a positive number, not '0'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9s"}),
            "--duration must be a positive number, not '9s'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--rate", "nan"}),
            "--rate must be a positive number, not 'nan'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--rate", "1000000"}),
            "--rate must be at most 100000");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "0.01", "--rate", "1"}),
            "--duration x --rate gives no sample; send at least one");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "1e9"}),
            "--duration x --rate must be at most 100000000 samples");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--seed", "-1"}),
            "--seed must be a whole number from 0 to 18446744073709551615, not '-1'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--service", "has space"}),
            "--service must be 1-128 characters of A-Z a-z 0-9 . _ - :, not 'has space'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--service", ""}),
            "--service must be 1-128 characters of A-Z a-z 0-9 . _ - :, not ''");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--url", "https://x"}),
            "--url: unsupported URL 'https://x': it must start with http:// (https is not "
            "supported)");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--verify=yes"}),
            "--verify takes no value");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "--fast"}), "unknown option '--fast'");
  EXPECT_EQ(Refusal({"--mode", "SPIKE", "--duration", "9", "extra"}), "unknown option 'extra'");
}

}  // namespace
}  // namespace driftwatch::sim
