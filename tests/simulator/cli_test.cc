// The real driftwatch-sim binary: exit codes and messages that need no server.
#include <gtest/gtest.h>

#include "tests/support/child_process.h"
#include "tests/support/scripted_http_server.h"
#include "tests/support/test_dir.h"

namespace driftwatch::sim {
namespace {

class CliTest : public ::testing::Test {
 protected:
  driftwatch::testing::RunResult Sim(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), DRIFTWATCH_SIM_BINARY);
    return driftwatch::testing::RunToExit(arguments, dir_.File("run"), std::chrono::seconds(60));
  }
  driftwatch::testing::TestDir dir_;
};

TEST_F(CliTest, HelpAndVersionExitZero) {
  const auto help = Sim({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out.rfind("Usage: driftwatch-sim --mode NORMAL|SPIKE|CREEP", 0), 0u) << help.out;
  const auto version = Sim({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "driftwatch-sim " DRIFTWATCH_VERSION "\n");
}

TEST_F(CliTest, UsageErrorsExitTwoWithTheReason) {
  const auto missing = Sim({"--duration", "60"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err,
            "driftwatch-sim: --mode is required (NORMAL, SPIKE or CREEP)\n"
            "Try 'driftwatch-sim --help'.\n");
}

TEST_F(CliTest, AServerThatIsDownExitsTwoWithAClearMessage) {
  const std::string url = "http://localhost:" + std::to_string(testing::UnusedPort());
  const auto run =
      Sim({"--mode", "NORMAL", "--duration", "60", "--url", url, "--verify", "--json"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");  // nothing half-written for a JSON reader
  EXPECT_NE(run.err.find("driftwatch-sim: cannot connect to " + url +
                         ": connection refused — is driftwatch running?\n"),
            std::string::npos)
      << run.err;
}

}  // namespace
}  // namespace driftwatch::sim
