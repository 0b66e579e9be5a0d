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

Status PluginFailure(dw_type_status code, dw_type_error& error, std::string_view context) {
  error.message[DW_ERROR_MESSAGE_SIZE - 1] = '\0';
  std::string message(context);
  if (error.message[0] != '\0') {
    message += error.message;
  } else {
    message += "failed with status " + std::to_string(static_cast<int>(code));
  }
  return Status::Failure(KindOfPluginStatus(code), std::move(message));
}

}  // namespace driftwatch
