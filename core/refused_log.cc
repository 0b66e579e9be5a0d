#include "core/refused_log.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>

#include "core/json_writing.h"
#include "core/timestamp.h"

namespace driftwatch {
namespace {

using JsonWriter = json::Writer;
using json::Metadata;
using json::Number;
using json::SeriesFields;
using json::Text;

// What every line starts with: when the data was refused, and why.
void Refusal(JsonWriter& writer, const Status& reason, const std::string& refused_at) {
  writer.Key("refused_at");
  Text(writer, refused_at);
  writer.Key("kind");
  Text(writer, Status::KindName(reason.kind()));
  writer.Key("reason");
  Text(writer, reason.message());
}

// A sample as POST /v1/telemetry takes it, so that the line's "sample" can be sent again as is:
// a sample tagged with its endpoint series (stored once for both) names its endpoint, so that
// sending it again feeds both series.
void SampleObject(JsonWriter& writer, const StoredSample& sample) {
  writer.StartObject();
  const ServiceId& series = sample.tag_series != nullptr ? sample.tag_series : sample.service_id;
  SeriesFields(writer, series != nullptr ? std::string_view(*series) : "");
  writer.Key("timestamp");
  Text(writer, FormatTimestamp(sample.timestamp_ms));
  writer.Key("latency_ms");
  Number(writer, sample.latency_ms);
  if (!std::isnan(sample.payload_kb)) {  // NaN: the sample carried none
    writer.Key("payload_kb");
    Number(writer, sample.payload_kb);
  }
  writer.EndObject();
}

// An event with the fields GET /v1/events shows, and its service.
void Event(JsonWriter& writer, const StoredEvent& event) {
  writer.StartObject();
  SeriesFields(writer, event.service_id);
  writer.Key("from_state");
  Text(writer, event.from_state);
  writer.Key("to_state");
  Text(writer, event.to_state);
  writer.Key("reason");
  Text(writer, event.reason);
  writer.Key("metadata");
  Metadata(writer, event.metadata_json);
  writer.Key("timestamp");
  Text(writer, FormatTimestamp(event.timestamp_ms));
  writer.Key("sample_seq");
  writer.Uint64(event.seq);
  writer.EndObject();
}

Status FileError(const char* what, const std::string& path, int error) {
  return Status::IoError(std::string("cannot ") + what + " '" + path +
                         "' (to set aside data the store refused): " + std::strerror(error));
}

}  // namespace

RefusedLog::RefusedLog(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

std::string RefusedLog::Lines(const WriteBatch& part, const Status& reason, int64_t refused_at_ms) {
  const std::string refused_at = FormatTimestamp(refused_at_ms);
  std::string lines;
  rapidjson::StringBuffer buffer;
  const auto add_line = [&](const auto& body) {
    buffer.Clear();
    JsonWriter writer(buffer);
    writer.StartObject();
    Refusal(writer, reason, refused_at);
    body(writer);
    writer.EndObject();
    lines.append(buffer.GetString(), buffer.GetSize());
    lines += '\n';
  };
  for (const StoredSample& sample : part.samples) {
    add_line([&](JsonWriter& writer) {
      writer.Key("seq");
      writer.Uint64(sample.seq);
      writer.Key("sample");
      SampleObject(writer, sample);
    });
  }
  for (const StoredEvent& event : part.events) {
    add_line([&](JsonWriter& writer) {
      writer.Key("event");
      Event(writer, event);
    });
  }
  return lines;
}

Status RefusedLog::Append(const WriteBatch& part, const Status& reason,
                          int64_t refused_at_ms) const {
  const std::string lines = Lines(part, reason, refused_at_ms);
  if (lines.empty()) return Status::Ok();
  // Opened for each refusal (refusals are rare), so an operator may move the file away at any time.
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return FileError("open", path_, errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    Status status = FileError("read the size of", path_, errno);
    ::close(fd);
    return status;
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size + lines.size() > max_bytes_) {
    ::close(fd);
    return Status::IoError("'" + path_ + "' is full: " + std::to_string(lines.size()) +
                           " more bytes of refused data would take it beyond its limit of " +
                           std::to_string(max_bytes_) +
                           " bytes; move it away to make room (docs/operations.md)");
  }
  size_t written = 0;
  int error = 0;
  while (written < lines.size()) {
    const ssize_t count = ::write(fd, lines.data() + written, lines.size() - written);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      error = count < 0 ? errno : EIO;
      break;
    }
    written += static_cast<size_t>(count);
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  Status status;
  if (error != 0) {
    status = FileError("write", path_, error);
    // All or nothing: the part is kept in memory and set aside again later, so no half of it may
    // stay in the file.
    [[maybe_unused]] const int truncated = ::ftruncate(fd, static_cast<off_t>(size));
  }
  ::close(fd);
  return status;
}

}  // namespace driftwatch
