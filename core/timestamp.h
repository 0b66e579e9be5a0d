// Timestamps: the API speaks RFC 3339 text, the engine and storage Unix epoch milliseconds (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace driftwatch {

// Parses RFC 3339 / ISO 8601 date-times with 'Z' or a +hh:mm / -hh:mm offset and an optional
// fraction ("2026-01-12T10:30:45.123Z", "2026-01-12T12:30:45+02:00"); fractions beyond
// milliseconds are truncated. Returns nothing for anything else, including impossible dates.
std::optional<int64_t> ParseTimestamp(std::string_view text);

// Formats as UTC with milliseconds: "2026-01-12T10:30:45.123Z".
std::string FormatTimestamp(int64_t epoch_ms);

// The current wall-clock time in epoch milliseconds.
int64_t NowMs();

}  // namespace driftwatch
