// Errors as values on every path that can fail at run time (leveldb style). A failure has a kind,
// and callers decide by its kind, never by its message: the message is for people.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace driftwatch {

class Status {
 public:
  enum class Kind {
    kOk,
    kInvalidArgument,  // the input is refused and would be again (a bad parameter, a write the
                       // store refuses: a sequence that does not rise, a constraint)
    kNotFound,         // what was asked for does not exist
    kCorrupt,          // stored or saved data is damaged, or not in a format this code reads
    kIoError,          // I/O failed or a resource is unavailable (disk full, file gone): may pass
    kBusy,             // the resource is held by someone else for now: may pass
    kInternal,         // anything else: a bug, or a plugin that gave no more precise code
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  // A failure of kind internal: what the tree used before failures had kinds.
  static Status Error(std::string message) { return Internal(std::move(message)); }
  static Status InvalidArgument(std::string message) {
    return Status(Kind::kInvalidArgument, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(Kind::kNotFound, std::move(message));
  }
  static Status Corrupt(std::string message) { return Status(Kind::kCorrupt, std::move(message)); }
  static Status IoError(std::string message) { return Status(Kind::kIoError, std::move(message)); }
  static Status Busy(std::string message) { return Status(Kind::kBusy, std::move(message)); }
  static Status Internal(std::string message) {
    return Status(Kind::kInternal, std::move(message));
  }
  // A failure of `kind`; kOk is taken as internal, so a failure can never read as success.
  static Status Failure(Kind kind, std::string message) {
    return Status(kind == Kind::kOk ? Kind::kInternal : kind, std::move(message));
  }

  bool ok() const { return kind_ == Kind::kOk; }
  Kind kind() const { return kind_; }
  const std::string& message() const { return message_; }

  // A stable name for logs and files: "ok", "invalid_argument", "not_found", "corrupt",
  // "io_error", "busy", "internal".
  static std::string_view KindName(Kind kind) {
    switch (kind) {
      case Kind::kOk:
        return "ok";
      case Kind::kInvalidArgument:
        return "invalid_argument";
      case Kind::kNotFound:
        return "not_found";
      case Kind::kCorrupt:
        return "corrupt";
      case Kind::kIoError:
        return "io_error";
      case Kind::kBusy:
        return "busy";
      case Kind::kInternal:
        break;
    }
    return "internal";
  }

 private:
  Status(Kind kind, std::string message) : kind_(kind), message_(std::move(message)) {}
  Kind kind_ = Kind::kOk;
  std::string message_;
};

}  // namespace driftwatch
