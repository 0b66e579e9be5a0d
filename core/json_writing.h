// The small pieces of writing JSON with RapidJSON that the API's answers, the refused-data log and
// the notifications share: numbers (JSON has no NaN or infinity), texts, series names, and the
// engine's metadata objects.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
#include <string_view>

#include "core/series_key.h"

namespace driftwatch::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A finite number, or null: the API never accepts NaN or infinity, so this is a guard.
inline void Number(Writer& writer, double value) {
  if (std::isfinite(value)) {
    writer.Double(value);
  } else {
    writer.Null();
  }
}

inline void Text(Writer& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// A series' key as the API names it: "service_id", and "endpoint" for an endpoint series
// (docs/behaviour.md, "Endpoint series").
inline void SeriesFields(Writer& writer, std::string_view key) {
  const SeriesName name = SplitSeriesKey(key);
  writer.Key("service_id");
  Text(writer, name.service_id);
  if (!name.endpoint.empty()) {
    writer.Key("endpoint");
    Text(writer, name.endpoint);
  }
}

// Metadata is JSON the engine made; anything that is not an object is written as {}.
inline void Metadata(Writer& writer, const std::string& metadata_json) {
  rapidjson::Document parsed;
  parsed.Parse<rapidjson::kParseFullPrecisionFlag>(metadata_json.data(), metadata_json.size());
  if (parsed.HasParseError() || !parsed.IsObject()) {
    writer.StartObject();
    writer.EndObject();
    return;
  }
  parsed.Accept(writer);
}

}  // namespace driftwatch::json
