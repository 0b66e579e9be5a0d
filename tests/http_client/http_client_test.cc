// The tools' HTTP client on libcurl: URL parsing, and requests against a scripted server on a real
// loopback socket (keep-alive, reconnection, timeouts, errors a user can act on).
#include "http_client/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/scripted_http_server.h"

namespace driftwatch::http {
namespace {

using testing::ScriptedAnswer;
using testing::TestHttpServer;

Url MustParse(const std::string& text) {
  Url url;
  const Status parsed = ParseUrl(text, &url);
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  return url;
}

TEST(UrlTest, ParsesHostPortAndPath) {
  Url url = MustParse("http://localhost:8000");
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, "8000");
  EXPECT_EQ(url.path, "");
  EXPECT_EQ(url.Origin(), "http://localhost:8000");

  url = MustParse("HTTP://example.com/driftwatch/");
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.port, "80");
  EXPECT_EQ(url.path, "/driftwatch");

  url = MustParse("http://[::1]:9000/");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, "9000");
  EXPECT_EQ(url.Origin(), "http://[::1]:9000");

  EXPECT_EQ(LoopbackUrl(8123).Origin(), "http://127.0.0.1:8123");
}

TEST(UrlTest, RefusesWhatItCannotUse) {
  Url url;
  for (const char* text : {"https://localhost:8000", "localhost:8000", "http://", "http://:80",
                           "http://host:0", "http://host:65536", "http://host:80x", "http://host:",
                           "http://[::1", "http://host/path?query=1", "http://user@host:80"}) {
    const Status parsed = ParseUrl(text, &url);
    EXPECT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.message().find(text), std::string::npos) << parsed.message();
  }
}

TEST(HttpClientTest, KeepsOneConnectionAliveForManyRequests) {
  TestHttpServer server({{200, R"({"ok":true})", {"X-Twice: 1", "x-twice: 2"}}});
  HttpClient client(MustParse(server.url() + "/prefix"));
  for (int i = 0; i < 3; ++i) {
    HttpResponse response;
    ASSERT_TRUE(client.Request("GET", "/health", "", &response).ok());
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, R"({"ok":true})");
    EXPECT_EQ(response.Header("content-type"), "application/json");
    EXPECT_EQ(response.Header("Content-Length"), "11");  // any case
    EXPECT_EQ(response.Header("x-twice"), "1");          // the first of two
    EXPECT_EQ(response.Header("x-none"), std::nullopt);
    ASSERT_FALSE(response.headers.empty());
    EXPECT_EQ(response.headers[0].first, "content-type");  // names in lower case, in order
  }
  EXPECT_EQ(client.connections_opened(), 1);
  EXPECT_EQ(server.connections(), 1);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.head.substr(0, request.head.find("\r\n")), "GET /prefix/health HTTP/1.1");
    // Said explicitly, for proxies in between that would close the connection otherwise.
    EXPECT_NE(request.head.find("\r\nConnection: keep-alive"), std::string::npos);
    EXPECT_NE(request.head.find("\r\nAccept: application/json"), std::string::npos);
    EXPECT_NE(request.head.find("\r\nHost: 127.0.0.1:"), std::string::npos);
    EXPECT_EQ(request.head.find("Content-Length"), std::string::npos);
  }
}

TEST(HttpClientTest, SendsTheBodyWithItsLength) {
  TestHttpServer server({{202, "{}"}});
  HttpClient client(MustParse(server.url()));
  HttpResponse response;
  const std::string body = R"({"service_id":"a","latency_ms":1})";
  ASSERT_TRUE(client.Request("POST", "/v1/telemetry", body, &response).ok());
  EXPECT_EQ(response.status, 202);
  // A large body goes at once, without asking for 100 Continue first.
  const std::string large(3 * 1024 * 1024, ' ');
  ASSERT_TRUE(client.Post("/v1/telemetry/batch", large, &response).ok());
  // An empty POST still says its length.
  ASSERT_TRUE(client.Post("/v1/baseline/x/reset", "", &response).ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].body, body);
  EXPECT_NE(requests[0].head.find("Content-Length: " + std::to_string(body.size())),
            std::string::npos);
  EXPECT_NE(requests[0].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(requests[1].body, large);
  EXPECT_EQ(requests[1].head.find("Expect"), std::string::npos) << requests[1].head;
  EXPECT_EQ(requests[2].head.substr(0, 36), "POST /v1/baseline/x/reset HTTP/1.1\r\n");
  EXPECT_NE(requests[2].head.find("Content-Length: 0"), std::string::npos);
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, OtherMethodsAndExtraHeaders) {
  TestHttpServer server({{405, R"({"error":"method_not_allowed"})", {"Allow: GET, HEAD"}}});
  HttpClient client(MustParse(server.url()));
  HttpResponse response;
  ASSERT_TRUE(client
                  .Request("DELETE", "/v1/services", "", &response,
                           {"Authorization: Bearer s3cret", "Accept: text/html"})
                  .ok());
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.Header("Allow"), "GET, HEAD");
  ASSERT_TRUE(client
                  .Request("PUT", "/v1/telemetry", "{}", &response,
                           {"Content-Type: text/plain", "Connection:"})
                  .ok());
  ASSERT_TRUE(client.Get("/v1/services/../health", &response).ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].head.substr(0, 28), "DELETE /v1/services HTTP/1.1");
  EXPECT_NE(requests[0].head.find("\r\nAuthorization: Bearer s3cret"), std::string::npos);
  // A header given replaces the client's own of that name.
  EXPECT_NE(requests[0].head.find("\r\nAccept: text/html"), std::string::npos);
  EXPECT_EQ(requests[0].head.find("application/json"), std::string::npos);
  EXPECT_EQ(requests[1].head.substr(0, 26), "PUT /v1/telemetry HTTP/1.1");
  EXPECT_EQ(requests[1].body, "{}");
  EXPECT_NE(requests[1].head.find("\r\nContent-Type: text/plain"), std::string::npos);
  EXPECT_EQ(requests[1].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(requests[1].head.find("Connection"), std::string::npos);  // "Name:" removes it
  // The path goes as it is given.
  EXPECT_EQ(requests[2].head.substr(0, 37), "GET /v1/services/../health HTTP/1.1\r\n");
}

TEST(HttpClientTest, HeadReadsNoBodyAndKeepsTheConnection) {
  TestHttpServer server({{200, R"({"status":"ok"})"}});
  HttpClient client(MustParse(server.url()));
  HttpResponse response;
  ASSERT_TRUE(client.Head("/health", &response).ok());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("Content-Length"), "15");
  EXPECT_EQ(response.body, "");
  ASSERT_TRUE(client.Get("/health", &response).ok());
  EXPECT_EQ(response.body, R"({"status":"ok"})");
  EXPECT_EQ(server.requests()[0].head.substr(0, 21), "HEAD /health HTTP/1.1");
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(HttpClientTest, ReconnectsWhenTheServerSaysItCloses) {
  TestHttpServer server({{200, "1", {"Connection: close"}, true}, {200, "2"}});
  HttpClient client(MustParse(server.url()));
  HttpResponse first, second;
  ASSERT_TRUE(client.Request("GET", "/a", "", &first).ok());
  ASSERT_TRUE(client.Request("GET", "/b", "", &second).ok());
  EXPECT_EQ(first.body, "1");
  EXPECT_EQ(second.body, "2");
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(client.connections_opened(), 2);
}

TEST(HttpClientTest, ReconnectsTransparentlyWhenTheServerClosedWithoutSaying) {
  // Answers 1 and 3 close the connection silently, as an idle timeout would.
  TestHttpServer server({{200, "1", {}, true}, {200, "2"}, {200, "3", {}, true}, {200, "4"}});
  HttpClient client(MustParse(server.url()));
  for (const char* expected : {"1", "2", "3", "4"}) {
    HttpResponse response;
    const Status status = client.Request("GET", "/x", "", &response);
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(response.body, expected);
  }
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(client.connections_opened(), 3);
  EXPECT_EQ(server.requests().size(), 4u);  // each request reached the server exactly once
}

TEST(HttpClientTest, ARequestAReusedConnectionLostUnansweredIsSentOnceMore) {
  // The second request reaches the server, which resets the connection without a word: the
  // client sends it again on a new connection and gets the third answer.
  ScriptedAnswer dropped(200, "never");
  dropped.drop_unanswered = true;
  TestHttpServer server({{200, "1"}, dropped, {200, "3"}});
  HttpClient client(MustParse(server.url()));
  HttpResponse response;
  ASSERT_TRUE(client.Post("/v1/telemetry", "{}", &response).ok());
  const Status again = client.Post("/v1/telemetry", "{}", &response);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(response.body, "3");
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(client.connections_opened(), 2);
}

TEST(HttpClientTest, AFreshConnectionLostUnansweredIsAnError) {
  ScriptedAnswer dropped(200, "never");
  dropped.drop_unanswered = true;
  TestHttpServer server({dropped});
  HttpClient client(MustParse(server.url()));
  HttpResponse response;
  const Status status = client.Get("/health", &response);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(server.requests().size(), 1u);  // not sent twice: the connection was new
  EXPECT_NE(status.message().find(server.url()), std::string::npos) << status.message();
}

TEST(HttpClientTest, ConnectionRefusedSaysWhatToCheck) {
  const int port = testing::UnusedPort();
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    const std::string origin = "http://" + host + ":" + std::to_string(port);
    HttpClient client(MustParse(origin));
    HttpResponse response;
    const Status status = client.Request("GET", "/health", "", &response);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.message(),
              "cannot connect to " + origin + ": connection refused — is driftwatch running?");
    EXPECT_EQ(client.connections_opened(), 0);
  }
}

TEST(HttpClientTest, UnresolvableHostIsAnError) {
  HttpClient client(MustParse("http://no-such-host.invalid:8000"));
  HttpResponse response;
  const Status status = client.Request("GET", "/health", "", &response);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot resolve 'no-such-host.invalid'"), std::string::npos)
      << status.message();
}

TEST(HttpClientTest, ASilentServerTimesOutInsteadOfHanging) {
  ScriptedAnswer silent;
  silent.never_answer = true;
  TestHttpServer server({silent});
  HttpClient client(MustParse(server.url()),
                    {std::chrono::milliseconds(1000), std::chrono::milliseconds(100)});
  HttpResponse response;
  const auto start = std::chrono::steady_clock::now();
  const Status status = client.Request("GET", "/health", "", &response);
  ASSERT_FALSE(status.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(status.message().find("no answer from " + server.url() + " within 100 ms"),
            std::string::npos)
      << status.message();
}

// libcurl's global set-up runs once whichever thread comes first; each thread has its own client.
TEST(HttpClientTest, ClientsOnManyThreadsAtOnce) {
  TestHttpServer server({{200, "{}", {}, true}});  // one connection at a time: each closes
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        HttpClient client(MustParse(server.url()));
        HttpResponse response;
        if (client.Get("/health", &response).ok() && response.status == 200) ++answered;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(answered, 20);
  EXPECT_EQ(server.requests().size(), 20u);
}

}  // namespace
}  // namespace driftwatch::http
