// The request each target type gets, from a body the engine's planner made.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "core/notifications.h"
#include "notify/formats.h"

namespace driftwatch::notify {
namespace {

// A drift and its recovery, as the engine's planner stores them, of series `key` (a service's,
// or an endpoint series').
std::vector<StoredNotification> Plan(const NotifyConfig& config, const std::string& key = "svc") {
  NotificationPlanner planner(config);
  Baseline baseline;
  baseline.valid = true;
  baseline.mean_latency = 100.0;
  baseline.p95_latency = 120.0;
  StoredEvent drift{key,
                    120,
                    1768176000000,
                    "STABLE",
                    "DRIFT_DETECTED",
                    "consecutive_severe_anomalies",
                    R"({"reason":"consecutive_severe_anomalies","max_zscore":14.2,)"
                    R"("detector":"zscore_severe","detector_version":"1.0.0"})"};
  StoredEvent recovery{key,
                       150,
                       1768176030000,
                       "DRIFT_DETECTED",
                       "STABLE",
                       "recovered",
                       R"({"reason":"recovered","detector":"recovery"})"};
  std::vector<StoredNotification> rows;
  planner.Plan(drift, nullptr, baseline, 1, &rows);
  planner.Plan(recovery, &drift, baseline, 2, &rows);
  return rows;
}

NotifyConfig Targets() {
  NotifyConfig config;
  config.public_url = "https://dw.example.com";
  config.targets = {
      {"am", "alertmanager", "http://am:9093/", "", "", {}, 1},
      {"pd", "pagerduty", "https://events.pagerduty.com/v2/enqueue", "", "rk-1", {}, 2},
      {"chat", "slack", "https://hooks.slack.com/services/x", "", "", {}, 3},
      {"hook", "webhook", "https://hooks.example.com/dw", "k", "", {{"X-Team", "sre"}}, 4}};
  return config;
}

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str());
  EXPECT_FALSE(document.HasParseError()) << text;
  return document;
}

TransitionNotice Notice(const std::vector<StoredNotification>& rows, const std::string& target,
                        size_t nth) {
  size_t seen = 0;
  for (const StoredNotification& row : rows) {
    if (row.target != target || seen++ != nth) continue;
    TransitionNotice notice;
    EXPECT_TRUE(ParseTransition(row.body, &notice).ok());
    return notice;
  }
  ADD_FAILURE() << "no row " << nth << " for " << target;
  return {};
}

TEST(NotifyFormats, SignatureIsHmacSha256InHex) {
  // RFC 4231, test case 2.
  EXPECT_EQ(Signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotifyFormats, IdsAndIncidentKeys) {
  const auto rows = Plan(Targets());
  ASSERT_EQ(rows.size(), 8u);  // two transitions, four targets
  EXPECT_EQ(rows[0].id, "svc/120");
  EXPECT_EQ(rows[4].id, "svc/150");
  EXPECT_EQ(Notice(rows, "hook", 0).incident_key, "driftwatch/svc/120");
  EXPECT_EQ(Notice(rows, "hook", 1).incident_key, "driftwatch/svc/120");
  StoredEvent reset{"svc", 150, 1768176040000, "STABLE", "INSUFFICIENT_DATA", "reset", "{}"};
  EXPECT_EQ(EventId(reset), "150-reset-1768176040000");
}

TEST(NotifyFormats, IncidentTargetsGetOnlyDriftsAndTheirEnds) {
  NotifyConfig config = Targets();
  config.on = {"drift_detected", "recovered", "baseline_established"};
  NotificationPlanner planner(config);
  StoredEvent established{"svc", 100, 1, "INSUFFICIENT_DATA", "STABLE", "baseline_established",
                          "{}"};
  std::vector<StoredNotification> rows;
  planner.Plan(established, nullptr, Baseline{}, 1, &rows);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].target, "chat");
  EXPECT_EQ(rows[1].target, "hook");
}

TEST(NotifyFormats, AlertmanagerFiresThenEndsWithTheSameLabels) {
  const NotifyConfig config = Targets();
  const auto rows = Plan(config);
  const PostRequest fire = RenderRequest(config.targets[0], Notice(rows, "am", 0));
  const PostRequest end = RenderRequest(config.targets[0], Notice(rows, "am", 1));
  EXPECT_EQ(fire.url, "http://am:9093/api/v2/alerts");
  const auto fired = Parse(fire.body);
  const auto ended = Parse(end.body);
  ASSERT_TRUE(fired.IsArray() && fired.Size() == 1);
  const auto& labels = fired[0]["labels"];
  EXPECT_STREQ(labels["alertname"].GetString(), "DriftWatchDrift");
  EXPECT_STREQ(labels["service_id"].GetString(), "svc");
  EXPECT_STREQ(labels["detector"].GetString(), "zscore_severe");
  EXPECT_STREQ(labels["reason"].GetString(), "consecutive_severe_anomalies");
  EXPECT_STREQ(labels["severity"].GetString(), "warning");
  EXPECT_TRUE(labels == ended[0]["labels"]);
  EXPECT_STREQ(fired[0]["startsAt"].GetString(), "2026-01-12T00:00:00.000Z");
  EXPECT_FALSE(fired[0].HasMember("endsAt"));
  EXPECT_STREQ(ended[0]["endsAt"].GetString(), "2026-01-12T00:00:30.000Z");
  EXPECT_STREQ(fired[0]["generatorURL"].GetString(), "https://dw.example.com/ui/#/service/svc");
  const std::string description = fired[0]["annotations"]["description"].GetString();
  EXPECT_NE(description.find("max_zscore 14.2"), std::string::npos) << description;
  EXPECT_NE(description.find("mean 100.0 ms, p95 120.0 ms"), std::string::npos) << description;
}

// An endpoint series' notifications name the service and the endpoint apart, in every format.
TEST(NotifyFormats, EndpointSeriesAreNamedInEveryFormat) {
  const NotifyConfig config = Targets();
  const auto rows = Plan(config, "svc#GET /api/orders/{id}");
  EXPECT_EQ(rows[0].service_id, "svc#GET /api/orders/{id}");  // the series' rows, as stored
  const TransitionNotice drift = Notice(rows, "hook", 0);
  EXPECT_EQ(drift.service_id, "svc");
  EXPECT_EQ(drift.endpoint, "GET /api/orders/{id}");
  EXPECT_EQ(drift.url, "https://dw.example.com/ui/#/service/svc/GET%20%2Fapi%2Forders%2F%7Bid%7D");
  const auto fired = Parse(RenderRequest(config.targets[0], Notice(rows, "am", 0)).body);
  EXPECT_STREQ(fired[0]["labels"]["service_id"].GetString(), "svc");
  EXPECT_STREQ(fired[0]["labels"]["endpoint"].GetString(), "GET /api/orders/{id}");
  EXPECT_STREQ(fired[0]["annotations"]["summary"].GetString(),
               "svc GET /api/orders/{id}: latency drift detected (consecutive_severe_anomalies)");
  const auto paged = Parse(RenderRequest(config.targets[1], Notice(rows, "pd", 0)).body);
  EXPECT_STREQ(paged["payload"]["custom_details"]["endpoint"].GetString(), "GET /api/orders/{id}");
  const auto hooked = Parse(RenderRequest(config.targets[3], Notice(rows, "hook", 1)).body);
  EXPECT_STREQ(hooked["service_id"].GetString(), "svc");
  EXPECT_STREQ(hooked["endpoint"].GetString(), "GET /api/orders/{id}");
  // A service's own series has no endpoint anywhere.
  const auto own = Parse(RenderRequest(config.targets[0], Notice(Plan(config), "am", 0)).body);
  EXPECT_FALSE(own[0]["labels"].HasMember("endpoint"));
}

// An endpoint may hold what Slack reads as markup; it is shown as text, never as a mention or a
// link.
TEST(NotifyFormats, SlackShowsAnEndpointsMarkupAsText) {
  const NotifyConfig config = Targets();
  const auto rows = Plan(config, "svc#<!channel> & <https://evil.example|Open>");
  const auto body = Parse(RenderRequest(config.targets[2], Notice(rows, "chat", 0)).body);
  const std::string text = body["text"].GetString();
  const std::string section = body["blocks"][0]["text"]["text"].GetString();
  const std::string context = body["blocks"][1]["elements"][0]["text"].GetString();
  for (const std::string& shown : {text, section, context}) {
    EXPECT_NE(shown.find("&lt;!channel&gt; &amp; &lt;https://evil.example|Open&gt;"),
              std::string::npos)
        << shown;
    EXPECT_EQ(shown.find("<!channel>"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("<https://evil"), std::string::npos) << shown;
  }
  // DriftWatch's own link is still a link.
  EXPECT_NE(section.find("<https://dw.example.com/ui/#/service/svc/"), std::string::npos);
}

// PagerDuty takes dedup keys of at most 255 characters: a longer series key is cut and hashed,
// the same for the drift and its recovery, and different for endpoints that differ only past
// the cut.
TEST(NotifyFormats, ALongSeriesKeyGivesABoundedIncidentKey) {
  const NotifyConfig config = Targets();
  const std::string endpoint(250, 'e');
  const auto rows = Plan(config, "svc#" + endpoint + "1");
  const auto other = Plan(config, "svc#" + endpoint + "2");
  const auto trigger = Parse(RenderRequest(config.targets[1], Notice(rows, "pd", 0)).body);
  const auto resolve = Parse(RenderRequest(config.targets[1], Notice(rows, "pd", 1)).body);
  const auto other_trigger = Parse(RenderRequest(config.targets[1], Notice(other, "pd", 0)).body);
  const std::string key = trigger["dedup_key"].GetString();
  EXPECT_EQ(key.size(), kMaxIncidentKeyLength) << key;
  EXPECT_EQ(key.rfind("driftwatch/svc#eee", 0), 0u) << key;
  EXPECT_EQ(key.substr(key.size() - 4), "/120") << key;
  EXPECT_EQ(key[key.size() - 4 - 17], '~') << key;
  EXPECT_EQ(key, resolve["dedup_key"].GetString());
  EXPECT_NE(key, other_trigger["dedup_key"].GetString());
  // Short keys are as before.
  EXPECT_EQ(IncidentKey("svc#GET /a", "120"), "driftwatch/svc#GET /a/120");
}

TEST(NotifyFormats, PagerDutyTriggerAndResolveShareTheDedupKey) {
  const NotifyConfig config = Targets();
  const auto rows = Plan(config);
  const auto trigger = Parse(RenderRequest(config.targets[1], Notice(rows, "pd", 0)).body);
  const auto resolve = Parse(RenderRequest(config.targets[1], Notice(rows, "pd", 1)).body);
  EXPECT_STREQ(trigger["routing_key"].GetString(), "rk-1");
  EXPECT_STREQ(trigger["event_action"].GetString(), "trigger");
  EXPECT_STREQ(resolve["event_action"].GetString(), "resolve");
  EXPECT_STREQ(trigger["dedup_key"].GetString(), "driftwatch/svc/120");
  EXPECT_STREQ(resolve["dedup_key"].GetString(), "driftwatch/svc/120");
  const auto& payload = trigger["payload"];
  EXPECT_STREQ(payload["source"].GetString(), "svc");
  EXPECT_STREQ(payload["severity"].GetString(), "warning");
  EXPECT_STREQ(payload["component"].GetString(), "driftwatch");
  EXPECT_STREQ(payload["timestamp"].GetString(), "2026-01-12T00:00:00.000Z");
  EXPECT_TRUE(payload["summary"].IsString());
  EXPECT_TRUE(payload["custom_details"].IsObject());
}

TEST(NotifyFormats, SlackHasTextBlocksAndALink) {
  const NotifyConfig config = Targets();
  const auto rows = Plan(config);
  const PostRequest request = RenderRequest(config.targets[2], Notice(rows, "chat", 0));
  EXPECT_EQ(request.url, "https://hooks.slack.com/services/x");
  const auto body = Parse(request.body);
  EXPECT_NE(std::string(body["text"].GetString()).find("svc"), std::string::npos);
  ASSERT_TRUE(body["blocks"].IsArray());
  const std::string section = body["blocks"][0]["text"]["text"].GetString();
  EXPECT_NE(section.find("<https://dw.example.com/ui/#/service/svc|"), std::string::npos);
  EXPECT_STREQ(body["blocks"][0]["type"].GetString(), "section");
}

TEST(NotifyFormats, WebhookIsTheTransitionSignedWithItsHeaders) {
  const NotifyConfig config = Targets();
  const auto rows = Plan(config);
  const PostRequest request = RenderRequest(config.targets[3], Notice(rows, "hook", 1));
  const auto body = Parse(request.body);
  for (const char* key : {"version", "id", "incident_key", "service_id", "from", "to", "reason",
                          "metadata", "transition_timestamp", "baseline", "url"}) {
    EXPECT_TRUE(body.HasMember(key)) << key;
  }
  EXPECT_FALSE(body.HasMember("drift"));
  EXPECT_EQ(body.MemberCount(), 11u);
  std::vector<std::pair<std::string, std::string>> expected = {
      {"X-Team", "sre"},
      {"Idempotency-Key", "svc/150"},
      {"X-DriftWatch-Signature", Signature("k", request.body)}};
  EXPECT_EQ(request.headers, expected);
}

}  // namespace
}  // namespace driftwatch::notify
