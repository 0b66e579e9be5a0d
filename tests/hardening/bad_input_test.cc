// The bad-input matrix, through HTTP against the real binary: every validation rule of
// docs/behaviour.md (Samples and timestamps), malformed JSON, wrong types, NaN/Infinity, huge
// numbers, deep nesting, invalid UTF-8, empty and oversized bodies, wrong content types, broken
// framing, very long URLs and headers, and path tricks in service ids. Each case must get a clear
// JSON 4xx, and the whole matrix must change nothing: no sample accepted, no service created,
// nothing stored.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/hardening/service.h"

namespace driftwatch::testing {
namespace {

constexpr size_t kMaxRequestBytes = 64 * 1024;  // the config below: small, so 413 is cheap
constexpr char kConfig[] = "server:\n  max_request_bytes: 65536\n";
constexpr char kKnown[] = "known-svc";

struct Case {
  std::string name;
  std::string request;  // the exact bytes sent, on a fresh connection
  int status;
  std::string error;  // the expected "error" code
  std::string field;  // the expected "field" ("" for none expected)
  int64_t index = -1;
  bool closes = false;  // the server must close the connection after answering
};

std::string Request(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/json",
                    const std::string& extra_headers = "") {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!content_type.empty()) request += "Content-Type: " + content_type + "\r\n";
  if (method == "POST" || !body.empty()) {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return request + "\r\n" + body;
}

Case Invalid(std::string name, const std::string& body, std::string field, int64_t index = -1) {
  const bool batch = !body.empty() && body.front() == '[';
  return {std::move(name),
          Request("POST", batch ? "/v1/telemetry/batch" : "/v1/telemetry", body),
          422,
          "validation_failed",
          std::move(field),
          index};
}

Case Malformed(std::string name, const std::string& body, bool batch = false) {
  return {std::move(name), Request("POST", batch ? "/v1/telemetry/batch" : "/v1/telemetry", body),
          400, "malformed_json", ""};
}

// A sample with `field` set to the raw JSON `value` (the other required fields valid).
std::string With(const std::string& field, const std::string& value) {
  std::string json = "{";
  if (field != "service_id") json += R"("service_id":"m",)";
  if (field != "latency_ms") json += R"("latency_ms":1,)";
  return json + "\"" + field + "\":" + value + "}";
}

std::vector<Case> Matrix() {
  std::vector<Case> cases;
  auto add = [&](Case c) { cases.push_back(std::move(c)); };

  // --- The field rules (docs/behaviour.md, Samples and timestamps), in the order they are checked.
  add(Invalid("service_id missing", R"({"latency_ms":1})", "service_id"));
  for (const char* value : {"null", "123", "true", "[]", "{}", "1.5"}) {
    add(Invalid(std::string("service_id ") + value, With("service_id", value), "service_id"));
  }
  for (const std::string& id :
       {std::string(""), std::string(129, 'a'), std::string("a b"), std::string("a/b"),
        std::string("../etc"), std::string("a%2Fb"), std::string("caf\xc3\xa9"),
        std::string("emoji\xf0\x9f\x98\x80"), std::string("a\\u0000b"), std::string("tab\\t"),
        std::string("semi;colon"), std::string("<script>"), std::string("a\\\\b"),
        std::string("\\\"quoted\\\"")}) {
    add(Invalid("service_id '" + id + "'", With("service_id", "\"" + id + "\""), "service_id"));
  }
  add(Invalid("latency_ms missing", R"({"service_id":"m"})", "latency_ms"));
  for (const char* value : {"null", "\"100\"", "true", "[1]", "{}", "-1", "-0.0001", "-1e-300",
                            "1e400", "-1e400", "1e309"}) {
    add(Invalid(std::string("latency_ms ") + value, With("latency_ms", value), "latency_ms"));
  }
  add(Invalid("latency_ms with 400 digits", With("latency_ms", std::string(400, '9')),
              "latency_ms"));
  for (const char* value : {"\"1\"", "-1", "true", "[]", "1e999"}) {
    add(Invalid(std::string("payload_kb ") + value, With("payload_kb", value), "payload_kb"));
  }
  for (const char* value :
       {"123", "true", "[]", "{}", "\"yesterday\"", "\"\"", "\"2026-13-01T00:00:00Z\"",
        "\"2026-02-30T00:00:00Z\"", "\"2026-01-12T25:00:00Z\"", "\"2026-01-12T10:30:45+25:00\"",
        "\"2026-01-12T10:30:45\"", "\"12/01/2026\""}) {
    add(Invalid(std::string("timestamp ") + value, With("timestamp", value), "timestamp"));
  }
  // More than ingest.max_future_seconds (an hour) ahead of the server's clock.
  add(Invalid("timestamp in the year 3000", With("timestamp", "\"3000-01-01T00:00:00Z\""),
              "timestamp"));
  // An unpaired low surrogate escape is valid JSON syntax (RFC 8259 8.2), but no valid id.
  add(Invalid("service_id with a lone low surrogate", With("service_id", R"("a\udc00")"),
              "service_id"));
  add(Invalid("the first failing field is named",
              R"({"service_id":"bad id","latency_ms":-1,"payload_kb":-1})", "service_id"));
  add(Invalid("an unknown field too large for a double",
              R"({"service_id":"m","latency_ms":1,"x":1e999})", "x"));

  // --- The body's shape.
  for (const char* body : {"[]", "[{}]", "\"text\"", "42", "null", "true"}) {
    add({std::string("single body ") + body, Request("POST", "/v1/telemetry", body), 422,
         "validation_failed", "(body)"});
  }
  for (const char* body :
       {"{}", R"({"service_id":"m","latency_ms":1})", "\"text\"", "42", "null", "[]"}) {
    add({std::string("batch body ") + body, Request("POST", "/v1/telemetry/batch", body), 422,
         "validation_failed", "(body)"});
  }
  const std::string good = SampleJson("m", 1);
  add(Invalid("batch item not an object", "[1]", "(item)", 0));
  add(Invalid("batch item null", "[" + good + ",null]", "(item)", 1));
  add(Invalid("batch item 2 without latency", "[" + good + "," + good + R"(,{"service_id":"m"}])",
              "latency_ms", 2));
  add(Invalid("batch item 3 with a huge number",
              "[" + good + "," + good + "," + good + R"(,{"service_id":"m","latency_ms":1e999}])",
              "latency_ms", 3));
  add(Invalid("batch item 1 with a bad id", "[" + good + R"(,{"service_id":"a/b","latency_ms":1}])",
              "service_id", 1));
  add(Invalid("batch item 2 in the year 3000",
              "[" + good + "," + good +
                  R"(,{"service_id":"m","latency_ms":1,"timestamp":"3000-01-01T00:00:00Z"}])",
              "timestamp", 2));

  // --- Not JSON at all.
  for (const char* body :
       {"{", R"({"service_id":"m",})", R"({'service_id':'m','latency_ms':1})",
        R"({"service_id":"m" "latency_ms":1})", R"({"service_id":"m","latency_ms":1}x)",
        "// comment\n{}", R"({"a":1}{"b":2})", "undefined", R"({"service_id":"m","latency_ms":01})",
        R"({"service_id":"m","latency_ms":.5})", R"({"service_id":"m","latency_ms":+1})",
        R"({"service_id":"m","latency_ms":0x10})", R"({"service_id":"\x"})",
        R"({"service_id":"m","latency_ms":1)", "{\"service_id\":\"a\x01\",\"latency_ms\":1}",
        R"({"service_id":"m","latency_ms":1,})", "\xef\xbb\xbf{}"}) {
    add(Malformed(std::string("malformed ") + body, body));
  }
  add(Malformed("NUL inside the body",
                std::string("{\"service_id\":\"a\0b\",\"latency_ms\":1}", 33)));
  add(Malformed("empty body", ""));
  add(Malformed("blank body", " \r\n\t "));
  add(Malformed("empty batch body", "", true));
  for (const char* literal : {"NaN", "-NaN", "Infinity", "-Infinity", "nan", "inf", "1e", "--1"}) {
    add(Malformed(std::string("latency_ms ") + literal, With("latency_ms", literal)));
    add(Malformed(std::string("batch latency_ms ") + literal,
                  "[" + With("latency_ms", literal) + "]", true));
  }
  add(Malformed("NaN in an unknown field", R"({"service_id":"m","latency_ms":1,"x":[1,NaN]})"));

  // --- Deep nesting: refused beyond 64 levels, without exhausting a stack.
  add(Malformed("65 nested arrays in an unknown field", R"({"service_id":"m","latency_ms":1,"x":)" +
                                                            std::string(65, '[') +
                                                            std::string(65, ']') + "}"));
  add(Malformed("60000 open arrays", std::string(60000, '['), true));
  std::string objects;
  for (int i = 0; i < 5000; ++i) objects += "{\"a\":";
  add(Malformed("5000 nested objects", objects));

  // --- Invalid UTF-8 (and escapes that do not make a character).
  for (const std::string& bytes :
       {std::string("\xff"), std::string("\xc0\xaf"), std::string("\xe2\x82"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("\x80"),
        std::string("\\ud800"), std::string("\\ud800\\u0041")}) {
    add(Malformed("invalid UTF-8 in service_id", With("service_id", "\"a" + bytes + "\"")));
    add(Malformed("invalid UTF-8 in an unknown field",
                  R"({"service_id":"m","latency_ms":1,"note":")" + bytes + "\"}"));
  }

  // --- Wrong content types: the body is parsed as JSON whatever they say (curl -d sends
  // application/x-www-form-urlencoded), so what is not JSON is refused as such.
  add({"form body",
       Request("POST", "/v1/telemetry", "service_id=m&latency_ms=1",
               "application/x-www-form-urlencoded"),
       400, "malformed_json", ""});
  add({"XML body",
       Request("POST", "/v1/telemetry",
               "<sample><service_id>m</service_id><latency_ms>1</latency_ms></sample>",
               "application/xml"),
       400, "malformed_json", ""});
  add({"multipart body",
       Request("POST", "/v1/telemetry",
               "--b\r\nContent-Disposition: form-data; name=\"s\"\r\n\r\nm\r\n--b--\r\n",
               "multipart/form-data; boundary=b"),
       400, "malformed_json", ""});
  add({"text body without a content type", Request("POST", "/v1/telemetry/batch", "hello", ""), 400,
       "malformed_json", ""});
  add({"an image", Request("POST", "/v1/telemetry", "\x89PNG\r\n\x1a\n\0\0\0", "image/png"), 400,
       "malformed_json", ""});

  // --- Sizes.
  add({"body one byte over the limit",
       Request("POST", "/v1/telemetry", std::string(kMaxRequestBytes + 1, ' ')), 413,
       "payload_too_large", "", -1, true});
  add({"large batch over the limit", Request("POST", "/v1/telemetry/batch", BatchJson("m", 3000)),
       413, "payload_too_large", "", -1, true});
  add({"oversized chunked body",
       "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
           [&] {
             std::string chunks;
             for (int i = 0; i < 20; ++i) chunks += "1000\r\n" + std::string(4096, ' ') + "\r\n";
             return chunks + "0\r\n\r\n";
           }(),
       413, "payload_too_large", "", -1, true});
  add({"URL of 20000 bytes", Request("GET", "/v1/health/" + std::string(20000, 'a'), ""), 414,
       "uri_too_long", "", -1, true});
  add({"URL of 9000 bytes", Request("GET", "/v1/health/" + std::string(9000, 'a'), ""), 414,
       "uri_too_long", "", -1, true});
  add({"header of 20000 bytes",
       Request("GET", "/v1/services", "", "", "X-Filler: " + std::string(20000, 'x') + "\r\n"), 431,
       "headers_too_large", "", -1, true});
  add({"URL of 8000 bytes (under the limit): unknown service",
       Request("GET", "/v1/health/" + std::string(8000, 'a'), ""), 404, "not_found", ""});

  // --- Broken HTTP.
  for (const char* raw :
       {"GET /health HTTP/1.1\r\nBad Header\r\n\r\n",
        "POST /v1/telemetry HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST /v1/telemetry HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST /v1/telemetry HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: "
        "6\r\n\r\nhello!",
        "POST /v1/telemetry HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\n",
        "POST /v1/telemetry HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    add({std::string("broken HTTP: ") + raw, raw, 400, "bad_request", "", -1, true});
  }
  add({"unknown method", "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented", "", -1,
       true});
  add({"HTTP/2.0 request line", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505,
       "http_version_not_supported", "", -1, true});

  // --- Methods.
  add({"GET on the ingest path", Request("GET", "/v1/telemetry", ""), 405, "method_not_allowed",
       ""});
  add({"PUT on the ingest path", Request("PUT", "/v1/telemetry", good), 405, "method_not_allowed",
       ""});
  add({"DELETE a service", Request("DELETE", std::string("/v1/health/") + kKnown, ""), 405,
       "method_not_allowed", ""});
  add({"PATCH the services", Request("PATCH", "/v1/services", "{}"), 405, "method_not_allowed",
       ""});

  // --- Paths and odd service ids in them.
  for (const std::string& path : std::vector<std::string>{"/v1/health/../services",
                                                          "/v1/health/..%2Fservices",
                                                          "/v1/health/%2e%2e%2fservices",
                                                          "/v1/health/known-svc%00",
                                                          "/v1/health/known-svc%2Fx",
                                                          "/v1/health/%00",
                                                          "/v1/health/%ZZ",
                                                          "/v1/health/known-svc%",
                                                          "/v1/health/caf%C3%A9",
                                                          "/v1/health/known-svc/",
                                                          "/v1/health/" + std::string(200, 'x'),
                                                          "/v1/baseline/a%20b",
                                                          "/v1/events/a%3Bb",
                                                          "//v1/services",
                                                          "/v1/services/",
                                                          "/V1/SERVICES",
                                                          "/v1",
                                                          "/ui",
                                                          "/ui/..%2Fopenapi.json",
                                                          "/ui/app.js/",
                                                          "/v1/health/known-svc/extra",
                                                          "/%2e%2e/%2e%2e/etc/passwd",
                                                          "/etc/passwd",
                                                          "/v1/health/%E2%80%AE",
                                                          "/v1/health/a%0D%0AX-Injected:%201"}) {
    add({"GET " + path, Request("GET", path, ""), 404, "not_found", ""});
  }
  // A target is visible ASCII only (RFC 9112 3.2): raw bytes beyond it are refused.
  for (const std::string& path :
       {std::string("/v1/health/caf\xc3\xa9"), std::string("/v1/health/\xff\xfe")}) {
    add({"GET " + path, Request("GET", path, ""), 400, "bad_request", "", -1, true});
  }
  add({"reset of an unknown service", Request("POST", "/v1/baseline/nobody/reset", ""), 404,
       "not_found", ""});
  add({"reset through a path trick", Request("POST", "/v1/baseline/..%2F..%2Fknown-svc/reset", ""),
       404, "not_found", ""});
  for (const char* limit : {"0", "1001", "-1", "abc", "", "1e3", "%00", "99999999999"}) {
    add({std::string("events limit=") + limit,
         Request("GET", std::string("/v1/events/") + kKnown + "?limit=" + limit, ""), 422,
         "validation_failed", "limit"});
  }
  return cases;
}

// Everything that tells whether bad input changed anything.
struct Footprint {
  uint64_t accepted = 0;
  uint64_t services = 0;
  int64_t known_samples = 0;
};

Footprint Measure(const Service& service) {
  Footprint footprint;
  const rapidjson::Document status = service.Status();
  if (status.HasMember("samples_accepted"))
    footprint.accepted = status["samples_accepted"].GetUint64();
  const rapidjson::Document services = ParseStrictJson(service.Get("/v1/services").body);
  if (services.IsObject() && services.HasMember("count")) {
    footprint.services = services["count"].GetUint64();
  }
  footprint.known_samples = service.SampleCount(kKnown);
  return footprint;
}

TEST(BadInput, EveryCaseGetsAClearJson4xxAndChangesNothing) {
  Service service(kConfig);
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;

  // What is not bad input: unknown fields are ignored, the content type is not checked.
  ASSERT_EQ(service.Post("/v1/telemetry/batch", BatchJson(kKnown, 3)).status, 202);
  ASSERT_EQ(service
                .Post("/v1/telemetry",
                      R"({"service_id":"known-svc","latency_ms":7,"extra":{"deep":[1,{"x":null}]},)"
                      R"("tags":["a"],"payload_kb":null,"timestamp":null})")
                .status,
            202);
  const HttpResponse response =
      service.Post("/v1/telemetry", SampleJson(kKnown, 8), "Content-Type: text/plain\r\n");
  ASSERT_EQ(response.status, 202) << response.body;
  ASSERT_TRUE(Eventually([&] { return service.SampleCount(kKnown) == 5; }, kPatience));
  ASSERT_TRUE(service.WaitForStoredSamples(5));
  const Footprint before = Measure(service);
  ASSERT_EQ(before.accepted, 5u);
  ASSERT_EQ(before.services, 1u);

  const std::vector<Case> cases = Matrix();
  std::printf("%zu cases\n", cases.size());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawConnection connection;
    ASSERT_TRUE(connection.Connect(service.port()));
    ASSERT_TRUE(connection.Send(c.request));
    HttpResponse answer;
    ASSERT_TRUE(connection.Read(&answer)) << "no answer";
    EXPECT_EQ(answer.status, c.status) << answer.body;
    EXPECT_EQ(answer.Header("Content-Type"), "application/json");
    const rapidjson::Document json = ParseStrictJson(answer.body);
    ASSERT_FALSE(json.HasParseError()) << "not JSON (or not UTF-8): " << answer.body;
    ASSERT_TRUE(json.IsObject() && json.HasMember("error") && json["error"].IsString() &&
                json.HasMember("message") && json["message"].IsString())
        << answer.body;
    EXPECT_EQ(json["error"].GetString(), c.error) << answer.body;
    EXPECT_GT(json["message"].GetStringLength(), 0u);
    if (!c.field.empty()) {
      ASSERT_TRUE(json.HasMember("field")) << answer.body;
      EXPECT_EQ(json["field"].GetString(), c.field) << answer.body;
    }
    if (c.index >= 0) {
      ASSERT_TRUE(json.HasMember("index")) << answer.body;
      EXPECT_EQ(json["index"].GetInt64(), c.index) << answer.body;
    }
    if (c.closes) {
      EXPECT_TRUE(connection.ClosedByServer());
    }
  }

  // Nothing was accepted or created. A last good sample shows the store's count moved by exactly
  // one since the matrix began (the count is refreshed about once a second).
  const Footprint after = Measure(service);
  EXPECT_EQ(after.accepted, before.accepted);
  EXPECT_EQ(after.services, before.services);
  EXPECT_EQ(after.known_samples, before.known_samples);
  ASSERT_EQ(service.Post("/v1/telemetry", SampleJson(kKnown, 9)).status, 202);
  EXPECT_TRUE(service.WaitForStoredSamples(6));
  EXPECT_EQ(Measure(service).services, 1u);

  // The limits that refused requests say so.
  const rapidjson::Document status = service.Status();
  ASSERT_TRUE(status.HasMember("limits"));
  EXPECT_EQ(status["limits"]["max_request_bytes"]["limit"].GetUint64(), kMaxRequestBytes);
  EXPECT_EQ(status["limits"]["max_request_bytes"]["rejected"].GetUint64(),
            3u);  // the oversized cases above
  EXPECT_EQ(status["limits"]["max_header_bytes"]["rejected"].GetUint64(), 1u);
  EXPECT_EQ(service.Stop(), 0) << service.process().Stderr();
}

}  // namespace
}  // namespace driftwatch::testing
