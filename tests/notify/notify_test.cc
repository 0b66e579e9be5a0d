// Notifications end to end: the real `driftwatch` binary with a real store, delivering to
// receivers the test starts on loopback (tests/support/scripted_http_server.h) and to a real
// Alertmanager. Every wait polls with a deadline.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/timestamp.h"
#include "notify/formats.h"
#include "tests/support/child_process.h"
#include "tests/support/eventually.h"
#include "tests/support/http_test_client.h"
#include "tests/support/scripted_http_server.h"
#include "tests/support/server_process.h"
#include "tests/support/test_dir.h"

namespace driftwatch::testing {
namespace {

constexpr int64_t kT0 = 1768176000000;  // 2026-01-12T00:00:00.000Z
constexpr auto kWaitDeadline = std::chrono::seconds(60);
constexpr const char* kSecret = "s3cr3t-hmac-key-do-not-log";
const std::string kBaseline =
    "baseline:\n  min_samples: 20\n  window_size: 100\n  refresh_every: 10\n";

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str());
  return document;
}

// The string member `name` of `object`, or "(no string <name>)".
std::string Member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject() || !object.HasMember(name) || !object[name].IsString()) {
    return std::string("(no string ") + name + ")";
  }
  return object[name].GetString();
}

class Service {
 public:
  // Runs the service with the baseline above plus `notify_yaml`, on `dir`'s database.
  Service(const TestDir& dir, const std::string& notify_yaml) : dir_(dir) {
    std::ofstream(dir.File("config.yaml")) << kBaseline << notify_yaml;
    process_ = std::make_unique<ServerProcess>(dir.File("driftwatch"));
    std::string error;
    started_ = process_->Start({"--host", "127.0.0.1", "--port", "0", "--db",
                                dir.File("driftwatch.db"), "--config", dir.File("config.yaml")},
                               &error);
    EXPECT_TRUE(started_) << error;
  }
  bool started() const { return started_; }
  ServerProcess& process() { return *process_; }

  // `count` samples of `latency_ms` from `*t`, one second apart.
  void Send(int count, double latency_ms, int64_t* t, const std::string& service_id = "svc") {
    std::string batch = "[";
    for (int i = 0; i < count; ++i) {
      char item[256];
      std::snprintf(item, sizeof item, R"(%s{"service_id":"%s","latency_ms":%g,"timestamp":"%s"})",
                    i == 0 ? "" : ",", service_id.c_str(), latency_ms + (i % 5),
                    FormatTimestamp(*t).c_str());
      batch += item;
      *t += 1000;
    }
    batch += "]";
    EXPECT_EQ(Fetch(process_->port(), "POST", "/v1/telemetry/batch", batch).status, 202);
  }
  // A baseline, then a SPIKE: zscore_severe fires after 5 samples.
  void Drift(int64_t* t, const std::string& service_id = "svc") {
    Send(20, 100, t, service_id);
    Send(10, 5000, t, service_id);
  }
  // Back to normal until the recovery detector says so.
  void Recover(int64_t* t, const std::string& service_id = "svc") {
    for (int i = 0; i < 20 && State(service_id) != "STABLE"; ++i) Send(10, 100, t, service_id);
  }
  std::string State(const std::string& service_id = "svc") {
    const auto health = Parse(Fetch(process_->port(), "GET", "/v1/health/" + service_id).body);
    return health.IsObject() && health.HasMember("state") ? health["state"].GetString() : "";
  }
  std::string Get(const std::string& path) { return Fetch(process_->port(), "GET", path).body; }

 private:
  const TestDir& dir_;
  std::unique_ptr<ServerProcess> process_;
  bool started_ = false;
};

std::string Webhook(const std::string& url, const std::string& extra = "") {
  return "notify:\n  timeout: 1s\n  targets:\n    - {name: hook, type: webhook, url: " + url +
         ", secret_env: DW_TEST_HOOK_SECRET" + extra + "}\n";
}

std::string Header(const std::string& head, const std::string& name) {
  const size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const size_t start = at + name.size() + 4;
  return head.substr(start, head.find("\r\n", start) - start);
}

// The rows GET /v1/notifications lists, newest first.
std::vector<std::string> States(Service& service, const std::string& query = "") {
  std::vector<std::string> states;
  const auto list = Parse(service.Get("/v1/notifications" + query));
  if (!list.IsObject()) return states;
  for (const auto& row : list["notifications"].GetArray()) {
    states.push_back(std::string(row["id"].GetString()) + " " + row["state"].GetString());
  }
  return states;
}

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("DW_TEST_HOOK_SECRET", kSecret, 1); }
  TestDir dir_;
};

TEST_F(NotifyTest, WebhookGetsTheDriftAndItsRecoverySignedAndInOrder) {
  TestHttpServer receiver({ScriptedAnswer(200)});
  Service service(dir_, Webhook(receiver.url(), ", headers: {X-Team: sre}"));
  ASSERT_TRUE(service.started());
  int64_t t = kT0;
  service.Drift(&t);
  ASSERT_EQ(service.State(), "DRIFT_DETECTED");
  service.Recover(&t);
  ASSERT_EQ(service.State(), "STABLE");
  ASSERT_TRUE(Eventually([&] { return receiver.requests().size() >= 2; }, kWaitDeadline));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  const auto drift = Parse(requests[0].body);
  const auto recovery = Parse(requests[1].body);
  EXPECT_STREQ(drift["to"].GetString(), "DRIFT_DETECTED");
  EXPECT_STREQ(recovery["from"].GetString(), "DRIFT_DETECTED");
  EXPECT_STREQ(drift["version"].GetString(), "1");
  EXPECT_STREQ(drift["service_id"].GetString(), "svc");
  EXPECT_STREQ(drift["reason"].GetString(), "consecutive_severe_anomalies");
  EXPECT_TRUE(drift["baseline"].IsObject());
  EXPECT_STREQ(drift["incident_key"].GetString(), recovery["incident_key"].GetString());
  EXPECT_EQ("driftwatch/" + std::string(drift["id"].GetString()),
            drift["incident_key"].GetString());
  for (const ReceivedRequest& request : requests) {
    EXPECT_EQ(Header(request.head, "X-DriftWatch-Signature"),
              notify::Signature(kSecret, request.body));
    EXPECT_EQ(Header(request.head, "Idempotency-Key"), Parse(request.body)["id"].GetString());
    EXPECT_EQ(Header(request.head, "Content-Type"), "application/json");
    EXPECT_EQ(Header(request.head, "X-Team"), "sre");
  }
  ASSERT_TRUE(Eventually(
      [&] {
        return States(service) ==
               std::vector<std::string>{std::string(recovery["id"].GetString()) + " delivered",
                                        std::string(drift["id"].GetString()) + " delivered"};
      },
      kWaitDeadline));
  const auto status = Parse(service.Get("/v1/system/status"));
  const auto& target = status["notifications"]["targets"][0];
  EXPECT_STREQ(target["name"].GetString(), "hook");
  EXPECT_EQ(target["delivered"].GetUint64(), 2u);
  EXPECT_EQ(target["pending"].GetUint64(), 0u);
  EXPECT_TRUE(target["last_success_at"].IsString());
  const std::string metrics = service.Get("/metrics");
  EXPECT_NE(metrics.find(R"(driftwatch_notifications_total{target="hook",outcome="delivered"} 2)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(driftwatch_notifications_pending{target="hook"} 0)"),
            std::string::npos);
  // The secret is nowhere the service shows things.
  const std::string shown = service.Get("/v1/system/status") + service.Get("/v1/notifications");
  ASSERT_EQ(service.process().Stop(), 0);
  for (const std::string& output :
       {service.process().Stderr(), service.process().Stdout(), metrics, shown}) {
    EXPECT_EQ(output.find(kSecret), std::string::npos) << output;
  }
}

// 500, then no answer within the timeout, then 429 with Retry-After, then 200: each notification
// is delivered once it can be, in order, and none is lost.
TEST_F(NotifyTest, RetriesUntilDeliveredInOrder) {
  ScriptedAnswer hang;
  hang.never_answer = true;
  TestHttpServer receiver({ScriptedAnswer(500), hang, ScriptedAnswer(429, "{}", {"Retry-After: 1"}),
                           ScriptedAnswer(200)});
  Service service(dir_, Webhook(receiver.url()));
  ASSERT_TRUE(service.started());
  int64_t t = kT0;
  service.Drift(&t);
  service.Recover(&t);
  ASSERT_TRUE(
      Eventually([&] { return States(service, "?state=delivered").size() == 2; }, kWaitDeadline));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 5u);  // four attempts at the drift, one at the recovery
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(requests[i].body, requests[0].body);
  EXPECT_STREQ(Parse(requests[0].body)["to"].GetString(), "DRIFT_DETECTED");
  EXPECT_STREQ(Parse(requests[4].body)["from"].GetString(), "DRIFT_DETECTED");
  const auto list = Parse(service.Get("/v1/notifications?target=hook&limit=1"));
  ASSERT_EQ(list["notifications"].Size(), 1u);
  const auto newest_two = Parse(service.Get("/v1/notifications?limit=2"));
  const auto& oldest = newest_two["notifications"][1];
  EXPECT_EQ(oldest["attempts"].GetUint(), 4u);
  EXPECT_TRUE(oldest["last_error"].IsNull());
  EXPECT_EQ(Fetch(service.process().port(), "GET", "/v1/notifications?state=lost").status, 422);
}

TEST_F(NotifyTest, ARefusalFailsAtOnce) {
  TestHttpServer receiver({ScriptedAnswer(400, R"({"error":"bad"})")});
  Service service(dir_, Webhook(receiver.url()));
  ASSERT_TRUE(service.started());
  int64_t t = kT0;
  service.Drift(&t);
  ASSERT_TRUE(
      Eventually([&] { return States(service, "?state=failed").size() == 1; }, kWaitDeadline));
  EXPECT_EQ(receiver.requests().size(), 1u);
  const auto list = Parse(service.Get("/v1/notifications"));
  const auto& row = list["notifications"][0];
  EXPECT_EQ(row["attempts"].GetUint(), 1u);
  EXPECT_NE(std::string(row["last_error"].GetString()).find("HTTP 400"), std::string::npos);
}

// Killed while its receiver fails, restarted against one that works: every notification arrives.
TEST_F(NotifyTest, AHardKillLosesNoNotification) {
  {
    TestHttpServer down({ScriptedAnswer(503)});
    Service service(dir_, Webhook(down.url()));
    ASSERT_TRUE(service.started());
    int64_t t = kT0;
    service.Drift(&t);
    service.Recover(&t);
    service.Drift(&t, "svc2");
    ASSERT_TRUE(
        Eventually([&] { return States(service, "?state=pending").size() == 3; }, kWaitDeadline));
    ASSERT_TRUE(service.process().Signal(SIGKILL));
    service.process().WaitForExit();
  }
  TestHttpServer up({ScriptedAnswer(200)});
  Service service(dir_, Webhook(up.url()));
  ASSERT_TRUE(service.started());
  ASSERT_TRUE(Eventually([&] { return up.requests().size() >= 3; }, kWaitDeadline));
  const auto requests = up.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_STREQ(Parse(requests[0].body)["to"].GetString(), "DRIFT_DETECTED");
  EXPECT_STREQ(Parse(requests[1].body)["from"].GetString(), "DRIFT_DETECTED");
  EXPECT_STREQ(Parse(requests[2].body)["service_id"].GetString(), "svc2");
  EXPECT_TRUE(
      Eventually([&] { return States(service, "?state=delivered").size() == 3; }, kWaitDeadline));
}

// A target that never answers delays neither another target nor ingest.
TEST_F(NotifyTest, AHungTargetDelaysNothingElse) {
  ScriptedAnswer hang;
  hang.never_answer = true;
  TestHttpServer hung({hang});
  TestHttpServer live({ScriptedAnswer(200)});
  Service service(dir_,
                  "notify:\n  timeout: 30s\n  targets:\n"
                  "    - {name: hung, type: webhook, url: " +
                      hung.url() +
                      "}\n"
                      "    - {name: live, type: slack, url: " +
                      live.url() + "}\n");
  ASSERT_TRUE(service.started());
  int64_t t = kT0;
  service.Drift(&t);
  ASSERT_TRUE(Eventually([&] { return hung.requests().size() == 1 && live.requests().size() == 1; },
                         kWaitDeadline));
  // The hung attempt lasts 30 s; meanwhile ingest goes on and the other target is served.
  for (int i = 0; i < 20; ++i) service.Send(100, 100, &t, "busy");
  service.Recover(&t);
  EXPECT_TRUE(Eventually([&] { return live.requests().size() == 2; }, std::chrono::seconds(20)));
  EXPECT_EQ(hung.requests().size(), 1u);
  const auto slack = Parse(live.requests()[0].body);
  EXPECT_TRUE(slack["text"].IsString());
  EXPECT_TRUE(slack["blocks"].IsArray());
}

// While a drift lasts its alert is sent again, also after a restart; its end stops that.
TEST_F(NotifyTest, AlertmanagerAlertsAreResentWhileTheDriftLasts) {
  TestHttpServer alertmanager({ScriptedAnswer(200)});
  const std::string notify =
      "notify:\n  resend_interval: 1s\n  targets:\n"
      "    - {name: am, type: alertmanager, url: " +
      alertmanager.url() + "}\n";
  int64_t t = kT0;
  {
    Service service(dir_, notify);
    ASSERT_TRUE(service.started());
    service.Drift(&t);
    ASSERT_TRUE(Eventually([&] { return alertmanager.requests().size() >= 3; }, kWaitDeadline));
    ASSERT_EQ(service.process().Stop(), 0);
  }
  const size_t before_restart = alertmanager.requests().size();
  Service service(dir_, notify);
  ASSERT_TRUE(service.started());
  ASSERT_TRUE(Eventually([&] { return alertmanager.requests().size() >= before_restart + 2; },
                         kWaitDeadline));
  for (const ReceivedRequest& request : alertmanager.requests()) {
    EXPECT_EQ(request.head.rfind("POST /api/v2/alerts HTTP/1.1", 0), 0u) << request.head;
    const auto alerts = Parse(request.body);
    ASSERT_TRUE(alerts.IsArray() && alerts.Size() == 1) << request.body;
    EXPECT_FALSE(alerts[0].HasMember("endsAt"));
  }
  service.Recover(&t);
  ASSERT_TRUE(
      Eventually([&] { return Parse(alertmanager.requests().back().body)[0].HasMember("endsAt"); },
                 kWaitDeadline));
  const size_t ended = alertmanager.requests().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // two resend intervals
  EXPECT_EQ(alertmanager.requests().size(), ended);
}

TEST_F(NotifyTest, PagerDutyGetsTriggerThenResolve) {
  TestHttpServer pagerduty({ScriptedAnswer(202)});
  setenv("DW_TEST_PD_KEY", "pd-routing-key-secret", 1);
  Service service(dir_, "notify:\n  targets:\n    - {name: pager, type: pagerduty, url: " +
                            pagerduty.url() + ", routing_key_env: DW_TEST_PD_KEY}\n");
  ASSERT_TRUE(service.started());
  int64_t t = kT0;
  service.Drift(&t);
  service.Recover(&t);
  ASSERT_TRUE(Eventually([&] { return pagerduty.requests().size() == 2; }, kWaitDeadline));
  const auto trigger = Parse(pagerduty.requests()[0].body);
  const auto resolve = Parse(pagerduty.requests()[1].body);
  EXPECT_STREQ(trigger["event_action"].GetString(), "trigger");
  EXPECT_STREQ(resolve["event_action"].GetString(), "resolve");
  EXPECT_STREQ(trigger["dedup_key"].GetString(), resolve["dedup_key"].GetString());
  EXPECT_STREQ(trigger["routing_key"].GetString(), "pd-routing-key-secret");
  EXPECT_STREQ(trigger["payload"]["source"].GetString(), "svc");
  for (const std::string& output :
       {service.Get("/v1/system/status"), service.Get("/v1/notifications")}) {
    EXPECT_EQ(output.find("pd-routing-key-secret"), std::string::npos) << output;
  }
}

// Starts a real Alertmanager (Debian's prometheus-alertmanager) on a free loopback port, routing
// every alert to nobody, and waits until it is ready: its port, or 0 (with a failure added).
uint16_t StartAlertmanager(const TestDir& dir, ChildProcess* alertmanager) {
  const auto port = static_cast<uint16_t>(UnusedPort());
  if (port == 0) {
    ADD_FAILURE() << "no free port";
    return 0;
  }
  std::ofstream(dir.File("alertmanager.yml"))
      << "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n";
  if (!alertmanager->Spawn({"/usr/bin/prometheus-alertmanager",
                            "--config.file=" + dir.File("alertmanager.yml"),
                            "--storage.path=" + dir.File("alertmanager-data"),
                            "--web.listen-address=127.0.0.1:" + std::to_string(port),
                            "--cluster.listen-address="})) {
    ADD_FAILURE() << "is Debian's prometheus-alertmanager installed? (scripts/install-deps.sh)";
    return 0;
  }
  if (!Eventually([&] { return Fetch(port, "GET", "/-/ready").status == 200; }, kWaitDeadline)) {
    ADD_FAILURE() << alertmanager->Stderr();
    return 0;
  }
  return port;
}

// The active alerts of a real Alertmanager for `service_id` (their labels, as JSON).
std::vector<std::string> ActiveAlerts(uint16_t port, const std::string& service_id) {
  std::vector<std::string> alerts;
  const auto list = Parse(Fetch(port, "GET", "/api/v2/alerts").body);
  if (!list.IsArray()) return {"(no answer)"};
  for (const auto& alert : list.GetArray()) {
    const auto& labels = alert["labels"];
    if (labels.HasMember("service_id") && service_id == labels["service_id"].GetString()) {
      alerts.push_back(std::string(labels["alertname"].GetString()) + " " +
                       labels["detector"].GetString() + " " + labels["reason"].GetString() + " " +
                       labels["severity"].GetString());
    }
  }
  return alerts;
}

TEST_F(NotifyTest, AlertmanagerShowsTheDriftThenResolvesIt) {
  ChildProcess alertmanager(dir_.File("alertmanager"));
  const uint16_t port = StartAlertmanager(dir_, &alertmanager);
  ASSERT_NE(port, 0);
  Service service(dir_,
                  "notify:\n  targets:\n    - {name: am, type: alertmanager, url: "
                  "http://127.0.0.1:" +
                      std::to_string(port) + "}\n");
  ASSERT_TRUE(service.started());
  int64_t t = kT0;
  service.Drift(&t);
  const std::vector<std::string> firing = {
      "DriftWatchDrift zscore_severe consecutive_severe_anomalies warning"};
  EXPECT_TRUE(Eventually([&] { return ActiveAlerts(port, "svc") == firing; }, kWaitDeadline))
      << alertmanager.Stderr();
  service.Recover(&t);
  ASSERT_EQ(service.State(), "STABLE");
  EXPECT_TRUE(Eventually([&] { return ActiveAlerts(port, "svc").empty(); }, kWaitDeadline));
  alertmanager.Signal(SIGTERM);
  EXPECT_TRUE(alertmanager.WaitForExit().has_value());
}

// The samples of AnEndpointDriftsWhileItsServiceMixStaysStable (tests/api/api_server_test.cc): a
// fast "GET /health" and a slow "GET /search" of `shop`, then /search 30 % slower: 40 sigma of
// its own series, under 2 of the service's two-humped mix.
std::string EndpointDriftBatch() {
  std::string batch = "[";
  int64_t t = kT0;
  for (int i = 0; i < 130; ++i) {
    const double search = i < 120 ? 100.0 + i % 3 : 130.0;
    for (const auto& [endpoint, latency] :
         {std::pair<const char*, double>{"GET /health", 10.0 + i % 3}, {"GET /search", search}}) {
      char item[256];
      std::snprintf(item, sizeof item,
                    R"(%s{"service_id":"shop","endpoint":"%s","latency_ms":%g,"timestamp":"%s"})",
                    batch.size() == 1 ? "" : ",", endpoint, latency, FormatTimestamp(t++).c_str());
      batch += item;
    }
  }
  return batch + "]";
}

// docs/behaviour.md, "Endpoint series": a notification about an endpoint series names the endpoint
// (webhook body, Alertmanager label and summary, PagerDuty details), links to the series' page,
// and its id and incident key use the series key `<service_id>#<endpoint>`. The service's own
// series, whose mix stays STABLE, tells no drift.
TEST_F(NotifyTest, AnEndpointSeriesDriftIsToldAsThatEndpointSeries) {
  ChildProcess alertmanager(dir_.File("alertmanager"));
  const uint16_t am_port = StartAlertmanager(dir_, &alertmanager);
  ASSERT_NE(am_port, 0);
  TestHttpServer hook({ScriptedAnswer(200)});
  TestHttpServer pagerduty({ScriptedAnswer(202)});
  setenv("DW_TEST_PD_KEY", "pd-routing-key-secret", 1);
  Service service(
      dir_,
      "series:\n  per_endpoint: true\n"
      "notify:\n  public_url: http://dw.example:8000\n"
      "  on: [drift_detected, recovered, baseline_established]\n"
      "  targets:\n"
      "    - {name: hook, type: webhook, url: " +
          hook.url() + ", secret_env: DW_TEST_HOOK_SECRET}\n" +
          "    - {name: am, type: alertmanager, url: http://127.0.0.1:" + std::to_string(am_port) +
          "}\n" + "    - {name: pager, type: pagerduty, url: " + pagerduty.url() +
          ", routing_key_env: DW_TEST_PD_KEY}\n");
  ASSERT_TRUE(service.started());
  ASSERT_EQ(
      Fetch(service.process().port(), "POST", "/v1/telemetry/batch", EndpointDriftBatch()).status,
      202);
  const auto sample_count = [&](const std::string& path) {
    const auto health = Parse(service.Get(path));
    return health.IsObject() && health.HasMember("sample_count") ? health["sample_count"].GetInt()
                                                                 : -1;
  };
  ASSERT_TRUE(Eventually(
      [&] {
        return sample_count("/v1/health/shop") == 260 &&
               sample_count("/v1/health/shop?endpoint=GET%20%2Fhealth") == 130 &&
               sample_count("/v1/health/shop?endpoint=GET%20%2Fsearch") == 130;
      },
      kWaitDeadline));
  ASSERT_EQ(service.State("shop"), "STABLE");
  ASSERT_EQ(service.State("shop?endpoint=GET%20%2Fhealth"), "STABLE");
  ASSERT_EQ(service.State("shop?endpoint=GET%20%2Fsearch"), "DRIFT_DETECTED");

  // Three baselines established (the service's, each endpoint's) and the drift of GET /search to
  // the webhook; the drift alone to Alertmanager and PagerDuty. Then nothing more.
  ASSERT_TRUE(
      Eventually([&] { return States(service, "?state=delivered").size() == 6; }, kWaitDeadline))
      << service.Get("/v1/notifications");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // ten commit intervals
  EXPECT_EQ(States(service).size(), 6u) << service.Get("/v1/notifications");

  const auto requests = hook.requests();
  ASSERT_EQ(requests.size(), 4u);
  std::vector<std::string> told;
  for (const ReceivedRequest& request : requests) {
    const auto body = Parse(request.body);
    told.push_back(Member(body, "id") + " " + Member(body, "to") + " " +
                   (body.HasMember("endpoint") ? Member(body, "endpoint") : "(service)"));
    EXPECT_EQ(Header(request.head, "Idempotency-Key"), Member(body, "id"));
    EXPECT_EQ(Header(request.head, "X-DriftWatch-Signature"),
              notify::Signature(kSecret, request.body));
  }
  EXPECT_EQ(told, (std::vector<std::string>{"shop/20 STABLE (service)",
                                            "shop#GET /health/20 STABLE GET /health",
                                            "shop#GET /search/20 STABLE GET /search",
                                            "shop#GET /search/125 DRIFT_DETECTED GET /search"}));
  const auto service_baseline = Parse(requests[0].body);
  EXPECT_EQ(Member(service_baseline, "service_id"), "shop");
  EXPECT_EQ(Member(service_baseline, "url"), "http://dw.example:8000/ui/#/service/shop");

  const std::string id = "shop#GET /search/125";
  const std::string incident_key = "driftwatch/" + id;
  const std::string url = "http://dw.example:8000/ui/#/service/shop/GET%20%2Fsearch";
  const auto drift = Parse(requests[3].body);
  EXPECT_EQ(Member(drift, "version"), "1");
  EXPECT_EQ(Member(drift, "id"), id);
  EXPECT_EQ(Member(drift, "incident_key"), incident_key);
  EXPECT_EQ(Member(drift, "service_id"), "shop");
  EXPECT_EQ(Member(drift, "endpoint"), "GET /search");
  EXPECT_EQ(Member(drift, "from"), "STABLE");
  EXPECT_EQ(Member(drift, "reason"), "consecutive_severe_anomalies");
  EXPECT_EQ(Member(drift, "url"), url);

  // GET /v1/notifications names the series as every answer about it does.
  const auto rows = Parse(service.Get("/v1/notifications?target=hook&limit=1"));
  ASSERT_EQ(rows["notifications"].Size(), 1u);
  const auto& row = rows["notifications"][0];
  EXPECT_EQ(Member(row, "id"), id);
  EXPECT_EQ(Member(row, "service_id"), "shop");
  EXPECT_EQ(Member(row, "endpoint"), "GET /search");
  EXPECT_TRUE(row["transition"] == drift) << requests[3].body;  // the body the webhook got

  // Alertmanager, through its own API: one alert for shop, the endpoint's.
  std::string alerts_json;
  ASSERT_TRUE(Eventually(
      [&] {
        alerts_json = Fetch(am_port, "GET", "/api/v2/alerts").body;
        return alerts_json.find("\"shop\"") != std::string::npos;
      },
      kWaitDeadline))
      << alertmanager.Stderr();
  const auto alerts = Parse(alerts_json);
  ASSERT_TRUE(alerts.IsArray()) << alerts_json;
  ASSERT_EQ(alerts.Size(), 1u) << alerts_json;
  const auto& alert = alerts[0];
  std::vector<std::string> labels;
  for (const auto& label : alert["labels"].GetObject()) {
    labels.push_back(std::string(label.name.GetString()) + "=" + label.value.GetString());
  }
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels,
            (std::vector<std::string>{"alertname=DriftWatchDrift", "detector=zscore_severe",
                                      "endpoint=GET /search", "reason=consecutive_severe_anomalies",
                                      "service_id=shop", "severity=warning"}))
      << alerts_json;
  const std::string summary = Member(alert["annotations"], "summary");
  EXPECT_NE(summary.find("shop"), std::string::npos) << summary;
  EXPECT_NE(summary.find("GET /search"), std::string::npos) << summary;
  EXPECT_EQ(Member(alert, "generatorURL"), url);

  // PagerDuty: the endpoint in the summary and the details, the series key in the dedup key.
  ASSERT_EQ(pagerduty.requests().size(), 1u);
  const auto page = Parse(pagerduty.requests()[0].body);
  EXPECT_EQ(Member(page, "event_action"), "trigger");
  EXPECT_EQ(Member(page, "dedup_key"), incident_key);
  EXPECT_EQ(Member(page["payload"]["custom_details"], "endpoint"), "GET /search");
  EXPECT_NE(Member(page["payload"], "summary").find("GET /search"), std::string::npos);
  EXPECT_EQ(Member(page["links"][0], "href"), url);

  alertmanager.Signal(SIGTERM);
  EXPECT_TRUE(alertmanager.WaitForExit().has_value());
}

// A secret's variable missing stops start-up, naming the variable.
TEST_F(NotifyTest, AMissingSecretStopsStartUp) {
  unsetenv("DW_TEST_HOOK_SECRET");
  std::ofstream(dir_.File("config.yaml")) << Webhook("http://127.0.0.1:9");
  const RunResult run = RunServiceToExit(
      {"--port", "0", "--db", dir_.File("x.db"), "--config", dir_.File("config.yaml")},
      dir_.File("refused"));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("DW_TEST_HOOK_SECRET"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace driftwatch::testing
