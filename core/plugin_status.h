// The one place where a plugin's dw_type_status becomes a Status kind. core/storage.cc and
// core/detector.cc, the adapters that call plugins, report every plugin failure through it, so the
// code a plugin returned reaches the callers as a kind instead of being flattened into text.
#pragma once

#include <driftwatch/plugin.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace driftwatch {

// DW_STATUS_INVALID_ARGUMENT -> invalid argument, DW_STATUS_IO_ERROR -> I/O error,
// DW_STATUS_CORRUPT -> corrupt; DW_STATUS_ERROR, DW_STATUS_BUFFER_TOO_SMALL (as a final answer, a
// broken size protocol) and codes this host does not know (a newer minor's) -> internal.
// DW_STATUS_OK -> ok. The ABI has no codes for "not found" or "busy" (yet): no plugin produces
// them.
Status::Kind KindOfPluginStatus(dw_type_status code);

// The failure a plugin reported with `code` and `error`: "<context><message>", or "<context>failed
// with status N" when it wrote no message. Terminates the plugin's message first (it may have
// forgotten to), so reading it never runs past its buffer. A leading "<owner>: " is dropped from
// the message: the host names the detector or backend (and a parameter's key) itself, and
// plugins written after the first examples repeated their own name.
Status PluginFailure(dw_type_status code, dw_type_error& error, std::string_view context = {},
                     std::string_view owner = {});

// `message` without a leading "<name>: ".
std::string WithoutLeadingName(std::string message, std::string_view name);

}  // namespace driftwatch
