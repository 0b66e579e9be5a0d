// The request each kind of target gets for one notification (docs/behaviour.md, "Notifications"):
// Alertmanager API v2, the signed generic webhook, a Slack incoming webhook, PagerDuty Events API
// v2. Made from the row's body, the JSON the engine stored (core/notifications.h).
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "notify/http_post.h"

namespace driftwatch::notify {

// What a stored body says, parsed once.
struct TransitionNotice {
  std::string id;  // "<service_id>/<event id>"
  std::string incident_key;
  std::string service_id;
  std::string endpoint;  // "" for a service's own series
  std::string from, to, reason, detector;
  std::string metadata_json;  // the event's metadata object
  std::string timestamp;      // RFC 3339
  std::string url;            // "" without notify.public_url
  bool drift = false;         // it starts a drift
  bool ends_drift = false;    // it ends one (a recovery, or a reset during a drift)
  std::string baseline_json;  // "null" before the first baseline
  double mean_latency = 0.0, p95_latency = 0.0;
  bool has_baseline = false;
  // Of the drift it ends (ends_drift only): the alert's labels and start.
  std::string drift_reason, drift_detector, drift_timestamp;
  std::string webhook_body;  // the body without the sender's own "drift" member
};

Status ParseTransition(const std::string& body, TransitionNotice* out);

// The request for one notification to `target`.
PostRequest RenderRequest(const NotifyTarget& target, const TransitionNotice& transition);

// One Alertmanager alert (a JSON object) for a drift that still lasts, to send again every
// notify.resend_interval_seconds; and the request that sends several such alerts.
std::string FiringAlert(const TransitionNotice& drift);
PostRequest AlertmanagerRequest(const NotifyTarget& target, const std::vector<std::string>& alerts);

// "sha256=<hex of HMAC-SHA256(secret, body)>".
std::string Signature(const std::string& secret, const std::string& body);

}  // namespace driftwatch::notify
