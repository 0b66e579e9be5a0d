// Lints the OpenAPI document exactly as the service serves it: runs the real `driftwatch` binary on
// a free loopback port, fetches /openapi.json, and runs Redocly CLI's `lint` on it with the rules
// in redocly.yaml beside this file. Any problem fails the test, warnings included. The CLI is the
// one package.json pins, installed in this directory by `npm ci` (scripts/install-deps.sh runs it).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

const std::string kLintDir = DRIFTWATCH_OPENAPI_LINT_DIR;
const std::string kRedocly = kLintDir + "/node_modules/.bin/redocly";

// The document as a running service serves it (so whatever it does to the embedded text, e.g. the
// version it puts in, is linted too). "" on failure, with the reason recorded as a test failure.
std::string ServedDocument(const TestDir& dir) {
  ServerProcess server(dir.File("driftwatch"));
  std::string error;
  const bool started = server.Start(
      {"--host", "127.0.0.1", "--port", "0", "--db", dir.File("driftwatch.db")}, &error);
  EXPECT_TRUE(started) << error;
  if (!started) return "";
  HttpResponse response = Fetch(server.port(), "GET", "/openapi.json");
  server.Stop();
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.Header("Content-Type"), "application/json");
  return response.status == 200 ? response.body : "";
}

// One line per problem of Redocly's JSON report: "warn operation-operationId at
// #/paths/~1health/get (line 131): Operation object should contain `operationId` field."
std::string DescribeProblems(const rapidjson::Value& report) {
  std::string text;
  if (!report.IsObject() || !report.HasMember("problems") || !report["problems"].IsArray()) {
    return text;
  }
  for (const rapidjson::Value& problem : report["problems"].GetArray()) {
    auto field = [&problem](const char* name) -> std::string {
      return problem.HasMember(name) && problem[name].IsString() ? problem[name].GetString() : "";
    };
    std::string where;
    if (problem.HasMember("location") && problem["location"].IsArray() &&
        !problem["location"].Empty()) {
      const rapidjson::Value& location = problem["location"][0];
      if (location.HasMember("pointer") && location["pointer"].IsString()) {
        where = std::string(" at ") + location["pointer"].GetString();
      }
      if (location.HasMember("start") && location["start"].HasMember("line")) {
        where += " (line " + std::to_string(location["start"]["line"].GetInt()) + ")";
      }
    }
    text += field("severity") + " " + field("ruleId") + where + ": " + field("message") + "\n";
  }
  return text;
}

TEST(OpenApiLint, ServedDocumentPassesRedoclyLint) {
  if (!std::filesystem::exists(kRedocly)) {
    FAIL() << "Redocly CLI is not installed (no " << kRedocly << "): run `npm ci` in " << kLintDir
           << " (scripts/install-deps.sh does).";
  }
  TestDir dir;
  const std::string document = ServedDocument(dir);
  ASSERT_FALSE(document.empty());
  const std::string file = dir.File("openapi.json");
  std::ofstream(file) << document;

  // No usage reports, no update check (both would go to the network), no colours in the output.
  setenv("REDOCLY_TELEMETRY", "off", 1);
  setenv("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true", 1);
  setenv("NO_COLOR", "1", 1);
  const RunResult lint =
      RunToExit({kRedocly, "lint", "--config", kLintDir + "/redocly.yaml", "--format=json", file},
                dir.File("redocly"));

  rapidjson::Document report;
  report.Parse(lint.out.c_str());
  const bool parsed = !report.HasParseError() && report.IsObject() && report.HasMember("totals") &&
                      report["totals"].IsObject();
  const std::string context =
      "redocly lint exited " + std::to_string(lint.exit_code) + "\n" + DescribeProblems(report) +
      "--- its output:\n" +
      (parsed ? std::string("(a JSON report: its problems are listed above)\n") : lint.out) +
      "--- its errors:\n" + lint.err;
  ASSERT_TRUE(parsed) << context;
  EXPECT_EQ(lint.exit_code, 0) << context;
  EXPECT_EQ(report["totals"]["errors"].GetInt(), 0) << context;
  EXPECT_EQ(report["totals"]["warnings"].GetInt(), 0) << context;
}

}  // namespace
}  // namespace driftwatch::testing
