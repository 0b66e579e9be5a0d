// The service's log lines: one line per message on stderr, in the form the operator chose
// (docs/operations.md, Logs; docs/behaviour.md, Command line):
//  - text (the default): "driftwatch: MESSAGE", as on a terminal; when stderr is journald's
//    stream (systemd sets JOURNAL_STREAM to it), each line starts with the syslog level, "<4>" for
//    a warning, which journald strips and files the line at;
//  - json (`--log-format json`): {"time":"2026-12-06T07:30:00.123Z","level":"warning",
//    "source":"driftwatch","message":"..."}, for log shippers.
// Use it for every new message of the service: log::Warning("notify: ..."). A newline inside a
// message becomes a space, so one message is always one line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace driftwatch::log {

// syslog's numbers, which journald's "<N>" prefix uses.
enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6 };
enum class Format { kText, kJson };

// Chooses the format and looks whether stderr is the journal. Call once at start-up, before any
// thread logs; until then the format is text, as on a terminal.
void Init(Format format);

// Whether lines are structured (json, or text to journald): then the service writes its banner
// as one info line instead of the framed block it shows on a terminal.
bool Structured();

// Writes one message, a whole line at once (safe from any thread).
void Write(Level level, std::string_view message);
inline void Error(std::string_view message) { Write(Level::kError, message); }
inline void Warning(std::string_view message) { Write(Level::kWarning, message); }
inline void Notice(std::string_view message) { Write(Level::kNotice, message); }
inline void Info(std::string_view message) { Write(Level::kInfo, message); }

// The line Write writes, without its newline, for a time in epoch milliseconds (for tests).
std::string FormatLine(Format format, bool journal, Level level, std::string_view message,
                       int64_t epoch_ms);

}  // namespace driftwatch::log
