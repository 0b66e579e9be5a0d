#include "core/log.h"

#include <sys/stat.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/json_writing.h"
#include "core/timestamp.h"

namespace driftwatch::log {
namespace {

std::atomic<Format> g_format{Format::kText};
std::atomic<bool> g_journal{false};
std::mutex g_write_mutex;

// systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected to journald; stderr is
// that stream if its device and inode match (not if the service redirected it elsewhere).
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  uintmax_t device = 0;
  uintmax_t inode = 0;
  if (std::sscanf(stream, "%" SCNuMAX ":%" SCNuMAX, &device, &inode) != 2) return false;
  struct stat status {};
  if (fstat(2, &status) != 0) return false;
  return static_cast<uintmax_t>(status.st_dev) == device &&
         static_cast<uintmax_t>(status.st_ino) == inode;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarning:
      return "warning";
    case Level::kNotice:
      return "notice";
    case Level::kInfo:
      break;
  }
  return "info";
}

std::string OneLine(std::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace

void Init(Format format) {
  g_format = format;
  g_journal = StderrIsJournal();
}

bool Structured() { return g_format == Format::kJson || g_journal; }

std::string FormatLine(Format format, bool journal, Level level, std::string_view message,
                       int64_t epoch_ms) {
  if (format == Format::kJson) {
    rapidjson::StringBuffer buffer;
    json::Writer writer(buffer);
    writer.StartObject();
    writer.Key("time");
    json::Text(writer, FormatTimestamp(epoch_ms));
    writer.Key("level");
    writer.String(LevelName(level));
    writer.Key("source");
    writer.String("driftwatch");
    writer.Key("message");
    json::Text(writer, message);
    writer.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
  }
  std::string line;
  if (journal) {  // appended piece by piece: GCC 12 at -O3 misreads "<" + ... (-Wrestrict)
    line += '<';
    line += std::to_string(static_cast<int>(level));
    line += '>';
  }
  line += "driftwatch: ";
  line += OneLine(message);
  return line;
}

void Write(Level level, std::string_view message) {
  std::string line = FormatLine(g_format, g_journal, level, message, NowMs());
  line += '\n';
  const std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace driftwatch::log
