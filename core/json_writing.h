// The small pieces of writing JSON with RapidJSON that the API's answers and the refused-data log
// share: numbers (JSON has no NaN or infinity), texts, and the engine's metadata objects.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
#include <string_view>

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
