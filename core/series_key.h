// How an endpoint series is named inside the engine and in the store (docs/behaviour.md,
// "Endpoint series"): the service id, '#', and the endpoint. No valid service id holds '#', so the
// key of a service's own series (its id) and of each of its endpoint series never collide, and
// the first '#' always splits a key back into the two.
#pragma once

#include <string>
#include <string_view>

namespace driftwatch {

inline constexpr char kEndpointSeparator = '#';

inline std::string EndpointSeriesKey(std::string_view service_id, std::string_view endpoint) {
  std::string key;
  key.reserve(service_id.size() + 1 + endpoint.size());
  key.append(service_id).push_back(kEndpointSeparator);
  key.append(endpoint);
  return key;
}

// A series key taken apart: endpoint is empty for a service's own series.
struct SeriesName {
  std::string_view service_id;
  std::string_view endpoint;
};

inline SeriesName SplitSeriesKey(std::string_view key) {
  const size_t separator = key.find(kEndpointSeparator);
  if (separator == std::string_view::npos) return {key, {}};
  return {key.substr(0, separator), key.substr(separator + 1)};
}

inline bool IsEndpointSeriesKey(std::string_view key) {
  return key.find(kEndpointSeparator) != std::string_view::npos;
}

// A series as messages name it: "service 'x'", or "endpoint series 'e' of service 'x'".
inline std::string SeriesTitle(std::string_view key) {
  const SeriesName name = SplitSeriesKey(key);
  if (name.endpoint.empty()) return "service '" + std::string(key) + "'";
  return "endpoint series '" + std::string(name.endpoint) + "' of service '" +
         std::string(name.service_id) + "'";
}

}  // namespace driftwatch
