// The API's documentation, embedded in the binary so the service documents itself offline: an
// OpenAPI 3 document (/openapi.json) and an HTML page rendered from it (/docs; no CDN, no script).
#pragma once

#include <string>
#include <string_view>

namespace driftwatch::api {

// The OpenAPI 3.0 document, with `version` as info.version.
std::string OpenApiDocument(std::string_view version);

// Renders an OpenAPI document as one self-contained HTML page: every operation with its
// parameters, request body and responses, then every schema. Returns an error page if
// `openapi_json` does not parse.
std::string RenderDocsHtml(std::string_view openapi_json);

}  // namespace driftwatch::api
