// Reading recorded telemetry: the three formats, the service each row belongs to, and bad rows
// named by file and line (or skipped and counted).
#include "replay/input.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "api/sample_parser.h"
#include "tests/support/test_dir.h"

namespace driftwatch::replay {
namespace {

class InputTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_.File(name);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << content;
    return path;
  }
  testing::TestDir dir_;
};

TEST_F(InputTest, NabCsvIsOneServiceNamedAfterTheFile) {
  const std::string path = Write("nyc_taxi.csv",
                                 "timestamp,value\n"
                                 "2014-07-01 00:00:00,10844\n"
                                 "2014-07-01 00:30:00,8127.5\r\n");
  InputFile file;
  ASSERT_TRUE(ReadInputFile(path, false, &file).ok());
  ASSERT_EQ(file.rows.size(), 2u);
  EXPECT_EQ(file.data_rows, 2u);
  EXPECT_EQ(file.services, (std::vector<std::string>{"nyc_taxi"}));
  EXPECT_EQ(file.rows[0].service, 0u);
  EXPECT_EQ(file.rows[0].sample.timestamp_ms, 1404172800000);
  EXPECT_DOUBLE_EQ(file.rows[0].sample.latency_ms, 10844);
  EXPECT_TRUE(std::isnan(file.rows[0].sample.payload_kb));
  EXPECT_EQ(file.rows[1].sample.timestamp_ms, 1404172800000 + 1800000);
  EXPECT_DOUBLE_EQ(file.rows[1].sample.latency_ms, 8127.5);
  EXPECT_EQ(file.rows[1].line, 3);
  EXPECT_EQ(file.rows[1].row, 1u);
  EXPECT_EQ(file.row_timestamps, (std::vector<int64_t>{1404172800000, 1404174600000}));
}

TEST_F(InputTest, NamedColumnsInAnyOrderWithOptionalPayloadAndEndpoint) {
  const std::string path = Write("mixed.csv",
                                 "endpoint,timestamp,latency_ms,service_id,payload_kb\n"
                                 "/pay,2026-01-12T10:30:45.123Z,150.5,checkout,2.5\n"
                                 "/pay,2026-01-12T12:30:46+02:00,151,search,\n");
  InputFile file;
  ASSERT_TRUE(ReadInputFile(path, false, &file).ok());
  ASSERT_EQ(file.rows.size(), 2u);
  EXPECT_EQ(file.services, (std::vector<std::string>{"checkout", "search"}));
  EXPECT_EQ(file.rows[0].service, 0u);
  EXPECT_DOUBLE_EQ(file.rows[0].sample.payload_kb, 2.5);
  EXPECT_EQ(file.rows[1].service, 1u);
  EXPECT_EQ(file.rows[1].sample.timestamp_ms, file.rows[0].sample.timestamp_ms + 877);
  EXPECT_TRUE(std::isnan(file.rows[1].sample.payload_kb));
  EXPECT_EQ(file.endpoints, (std::vector<std::string>{"/pay"}));
  EXPECT_EQ(file.rows[1].endpoint, 0u);
}

// A row's endpoint, in either form, is kept by index; an empty CSV field or a JSON null is none;
// a bad one is a bad row as the API refuses it, named by file and line.
TEST_F(InputTest, EndpointsAreReadAndCheckedAsTheApiChecksThem) {
  const std::string csv = Write("endpoints.csv",
                                "service_id,endpoint,latency_ms,timestamp\n"
                                "checkout,GET /api/orders/{id},10,2026-01-12T10:30:45Z\n"
                                "checkout,,11,2026-01-12T10:30:46Z\n"
                                "search,POST /q,12,2026-01-12T10:30:47Z\n"
                                "checkout,POST /q,13,2026-01-12T10:30:48Z\n"
                                "checkout,GET /api/orders/{id},14,2026-01-12T10:30:49Z\n");
  InputFile file;
  ASSERT_TRUE(ReadInputFile(csv, false, &file).ok());
  ASSERT_EQ(file.rows.size(), 5u);
  EXPECT_EQ(file.endpoints, (std::vector<std::string>{"GET /api/orders/{id}", "POST /q"}));
  EXPECT_EQ(file.rows[0].endpoint, 0u);
  EXPECT_EQ(file.rows[1].endpoint, kNoEndpoint);
  EXPECT_EQ(file.rows[2].endpoint, 1u);
  EXPECT_EQ(file.rows[2].service, 1u);
  EXPECT_EQ(file.rows[3].endpoint, 1u);  // the same endpoint of another service: one name
  EXPECT_EQ(file.rows[4].endpoint, 0u);

  const std::string jsonl = Write(
      "endpoints.jsonl",
      R"({"service_id": "a", "latency_ms": 1, "timestamp": "2026-01-12T10:30:45Z", "endpoint": "/x"})"
      "\n"
      R"({"service_id": "a", "latency_ms": 2, "timestamp": "2026-01-12T10:30:46Z", "endpoint": null})"
      "\n");
  InputFile lines;
  ASSERT_TRUE(ReadInputFile(jsonl, false, &lines).ok());
  ASSERT_EQ(lines.rows.size(), 2u);
  EXPECT_EQ(lines.endpoints, (std::vector<std::string>{"/x"}));
  EXPECT_EQ(lines.rows[0].endpoint, 0u);
  EXPECT_EQ(lines.rows[1].endpoint, kNoEndpoint);

  const std::string too_long(api::kMaxEndpointLength + 1, 'e');
  const std::string bad_csv = Write("bad-endpoint.csv",
                                    "service_id,endpoint,latency_ms,timestamp\n"
                                    "checkout,/ok,10,2026-01-12T10:30:45Z\n"
                                    "checkout," +
                                        too_long +
                                        ",10,2026-01-12T10:30:46Z\n"
                                        "checkout,caf\xc3\xa9,10,2026-01-12T10:30:47Z\n");
  InputFile strict;
  EXPECT_EQ(ReadInputFile(bad_csv, false, &strict).message(),
            bad_csv +
                ":3: endpoint: must be empty or 1-256 printable ASCII characters (space to '~'), "
                "got '" +
                too_long + "' (without --strict such rows are skipped and counted)");
  InputFile lenient;
  ASSERT_TRUE(ReadInputFile(bad_csv, true, &lenient).ok());
  EXPECT_EQ(lenient.rows.size(), 1u);
  EXPECT_EQ(lenient.skipped, 2u);
  EXPECT_EQ(lenient.endpoints, (std::vector<std::string>{"/ok"}));

  const std::string bad_jsonl = Write(
      "bad-endpoint.jsonl",
      R"({"service_id": "a", "latency_ms": 1, "timestamp": "2026-01-12T10:30:45Z", "endpoint": ""})"
      "\n");
  InputFile refused;
  EXPECT_EQ(ReadInputFile(bad_jsonl, false, &refused).message(),
            bad_jsonl +
                ":1: endpoint must be 1-256 printable ASCII characters (space to '~'), e.g. "
                "\"GET /api/orders/{id}\" (without --strict such rows are skipped and counted)");
}

// An endpoint may hold commas and quotes (any printable ASCII): CSV quotes such a field, as
// spreadsheets and csv writers do (RFC 4180), and "" inside it stands for one quote.
TEST_F(InputTest, QuotedCsvFieldsHoldCommasAndQuotes) {
  const std::string csv =
      Write("quoted.csv",
            "\"service_id\",endpoint,latency_ms,timestamp\n"
            "checkout,\"GET /a,b\",10,2026-01-12T10:30:45Z\n"
            "checkout, \"say \"\"hi\"\", then go\" ,\"11.5\",2026-01-12T10:30:46Z\n"
            "\"checkout\",\"\",12,2026-01-12T10:30:47Z\n"
            "checkout,a\"b,13,2026-01-12T10:30:48Z\n");
  InputFile file;
  ASSERT_TRUE(ReadInputFile(csv, false, &file).ok());
  ASSERT_EQ(file.rows.size(), 4u);
  EXPECT_EQ(file.services, (std::vector<std::string>{"checkout"}));
  EXPECT_EQ(file.endpoints, (std::vector<std::string>{"GET /a,b", "say \"hi\", then go", "a\"b"}));
  EXPECT_EQ(file.rows[0].endpoint, 0u);
  EXPECT_EQ(file.rows[1].endpoint, 1u);
  EXPECT_DOUBLE_EQ(file.rows[1].sample.latency_ms, 11.5);
  EXPECT_EQ(file.rows[2].endpoint, kNoEndpoint);  // quoted empty is empty: none
  EXPECT_EQ(file.rows[3].endpoint, 2u);           // a quote inside an unquoted field is itself

  const std::string open = Write("open-quote.csv",
                                 "service_id,endpoint,latency_ms,timestamp\n"
                                 "checkout,\"GET /a,10,2026-01-12T10:30:45Z\n"
                                 "checkout,\"GET /a\"x,10,2026-01-12T10:30:46Z\n"
                                 "checkout,/ok,10,2026-01-12T10:30:47Z\n");
  InputFile strict;
  EXPECT_EQ(ReadInputFile(open, false, &strict).message(),
            open +
                ":2: a quoted field has no closing quote (without --strict such rows are skipped "
                "and counted)");
  InputFile lenient;
  ASSERT_TRUE(ReadInputFile(open, true, &lenient).ok());
  EXPECT_EQ(lenient.rows.size(), 1u);
  EXPECT_EQ(lenient.skipped, 2u);
  EXPECT_EQ(lenient.endpoints, (std::vector<std::string>{"/ok"}));

  const std::string header = Write("bad-header.csv", "timestamp,\"value\n");
  EXPECT_EQ(ReadInputFile(header, false, &strict).message(),
            header +
                ":1: header not understood: a quoted field has no closing quote, in "
                "'timestamp,\"value'");
}

TEST_F(InputTest, JsonLinesAreValidatedAsTheApiValidatesSamples) {
  const std::string path = Write(
      "samples.jsonl",
      R"({"service_id": "a", "latency_ms": 12.5, "timestamp": "2026-01-12T10:30:45Z"})"
      "\n\n"
      R"({"service_id": "b", "latency_ms": 3, "payload_kb": 1, "timestamp": "2026-01-12T10:30:46Z", "extra": 1})"
      "\n");
  InputFile file;
  ASSERT_TRUE(ReadInputFile(path, false, &file).ok());
  ASSERT_EQ(file.rows.size(), 2u);
  EXPECT_EQ(file.services, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(file.rows[1].service, 1u);
  EXPECT_EQ(file.rows[1].line, 3);
  EXPECT_DOUBLE_EQ(file.rows[1].sample.payload_kb, 1.0);

  const std::string bad = Write(
      "bad.jsonl", R"({"service_id": "a", "latency_ms": -1, "timestamp": "2026-01-12T10:30:45Z"})"
                   "\n");
  const Status refused = ReadInputFile(bad, false, &file);
  EXPECT_EQ(refused.message(), bad +
                                   ":1: latency_ms must be a finite number >= 0 (without "
                                   "--strict such rows are skipped and counted)");
  const std::string untimed = Write("untimed.jsonl", R"({"service_id": "a", "latency_ms": 1})"
                                                     "\n");
  EXPECT_EQ(ReadInputFile(untimed, false, &file).message(),
            untimed +
                ":1: timestamp: required (replay needs the time each sample was recorded) "
                "(without --strict such rows are skipped and counted)");
}

TEST_F(InputTest, ABadRowNamesItsFileAndLineOrIsSkippedAndCounted) {
  const std::string path = Write("series.csv",
                                 "timestamp,value\n"
                                 "2014-07-01 00:00:00,1\n"
                                 "2014-07-01 00:05:00,-3.5\n"
                                 "2014-07-01 00:10:00,abc\n"
                                 "2014-07-01 00:15:00,2\n");
  InputFile strict;
  EXPECT_EQ(ReadInputFile(path, false, &strict).message(),
            path +
                ":3: value: must be a finite number >= 0 (the API refuses it too), got -3.5 "
                "(without --strict such rows are skipped and counted)");
  InputFile lenient;
  ASSERT_TRUE(ReadInputFile(path, true, &lenient).ok());
  EXPECT_EQ(lenient.rows.size(), 2u);
  EXPECT_EQ(lenient.skipped, 2u);
  EXPECT_EQ(lenient.data_rows, 4u);  // skipped rows still count as rows (NAB scores by row)
  EXPECT_EQ(lenient.rows[1].row, 3u);
  EXPECT_EQ(lenient.first_skip_reason,
            path + ":3: value: must be a finite number >= 0 (the API refuses it too), got -3.5");
}

TEST_F(InputTest, HeadersAndFileNamesThatCannotWork) {
  InputFile file;
  const std::string header = Write("odd.csv", "time,latency\n1,2\n");
  EXPECT_EQ(ReadInputFile(header, false, &file).message(),
            header +
                ":1: header not understood: expected 'timestamp,value' (NAB) or named columns "
                "with at least timestamp and latency_ms (service_id, latency_ms, payload_kb, "
                "endpoint, timestamp), got 'time,latency'");
  const std::string name = Write("bad name.csv", "timestamp,value\n2014-07-01 00:00:00,1\n");
  EXPECT_NE(ReadInputFile(name, false, &file).message().find("is not a valid service id"),
            std::string::npos);
  const std::string fields = Write("short.csv", "timestamp,value\n2014-07-01 00:00:00\n");
  EXPECT_EQ(
      ReadInputFile(fields, false, &file).message(),
      fields + ":2: expected 2 fields, got 1 (without --strict such rows are skipped and counted)");
  EXPECT_EQ(ReadInputFile(dir_.File("none.csv"), false, &file).message(),
            dir_.File("none.csv") + ": cannot open the file");
}

TEST_F(InputTest, DirectoriesExpandToTheirInputFilesInPathOrder) {
  Write("corpus/b/two.csv", "timestamp,value\n");
  Write("corpus/a/one.jsonl", "");
  Write("corpus/README.md", "not input\n");
  Write("corpus/a/three.ndjson", "");
  std::vector<std::string> files;
  ASSERT_TRUE(ExpandInputs({dir_.File("corpus")}, &files).ok());
  EXPECT_EQ(files, (std::vector<std::string>{dir_.File("corpus/a/one.jsonl"),
                                             dir_.File("corpus/a/three.ndjson"),
                                             dir_.File("corpus/b/two.csv")}));
  std::filesystem::create_directories(dir_.File("empty"));
  EXPECT_EQ(ExpandInputs({dir_.File("empty")}, &files).message(),
            dir_.File("empty") + ": no *.csv, *.jsonl or *.ndjson file in the directory");
  EXPECT_EQ(ExpandInputs({dir_.File("nowhere")}, &files).message(),
            dir_.File("nowhere") + ": no such file or directory");
}

}  // namespace
}  // namespace driftwatch::replay
