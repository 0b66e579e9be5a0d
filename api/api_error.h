// A client error as the API reports it, in one place for the parsers, the router and the HTTP
// layer: {"error": code, "message": ..., "field"?, "index"?} (response_json.h writes it).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch::api {

struct ApiError {
  int http_status = 400;
  std::string code;     // "malformed_json", "validation_failed", "not_found", ...
  std::string message;  // for humans
  std::string field;    // the field at fault ("(body)", "(item)", "limit", ...); "" for none
  int64_t index = -1;   // the batch item at fault; -1 for none
  // More numeric fields, e.g. {"samples": 99, "needed": 100} for no_baseline.
  std::vector<std::pair<std::string, uint64_t>> numbers;
};

// An error with no field or index (most of the API's own refusals).
inline ApiError MakeError(int status, std::string code, std::string message) {
  ApiError error;
  error.http_status = status;
  error.code = std::move(code);
  error.message = std::move(message);
  return error;
}

}  // namespace driftwatch::api
