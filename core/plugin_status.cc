#include "core/plugin_status.h"

#include <string>

namespace driftwatch {

Status::Kind KindOfPluginStatus(dw_type_status code) {
  switch (code) {
    case DW_STATUS_OK:
      return Status::Kind::kOk;
    case DW_STATUS_INVALID_ARGUMENT:
      return Status::Kind::kInvalidArgument;
    case DW_STATUS_IO_ERROR:
      return Status::Kind::kIoError;
    case DW_STATUS_CORRUPT:
      return Status::Kind::kCorrupt;
    case DW_STATUS_ERROR:
    case DW_STATUS_BUFFER_TOO_SMALL:
      break;
  }
  return Status::Kind::kInternal;  // also any value a newer plugin may return
}

std::string WithoutLeadingName(std::string message, std::string_view name) {
  if (!name.empty() && message.size() > name.size() + 1 && message.starts_with(name) &&
      message.compare(name.size(), 2, ": ") == 0) {
    message.erase(0, name.size() + 2);
  }
  return message;
}

Status PluginFailure(dw_type_status code, dw_type_error& error, std::string_view context,
                     std::string_view owner) {
  error.message[DW_ERROR_MESSAGE_SIZE - 1] = '\0';
  std::string message(context);
  if (std::string own = WithoutLeadingName(error.message, owner); !own.empty()) {
    message += own;
  } else {
    message += "failed with status " + std::to_string(static_cast<int>(code));
  }
  return Status::Failure(KindOfPluginStatus(code), std::move(message));
}

}  // namespace driftwatch
