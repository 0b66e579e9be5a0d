// The dashboard's files (ui/, and the chart library's from ui/node_modules), embedded into the
// binary at build time by cmake/EmbedFiles.cmake, so the service serves /ui/ with nothing beside
// it (docs/architecture.md, "Dashboard").
#pragma once

#include <optional>
#include <string_view>

namespace driftwatch::api {

struct UiFile {
  std::string_view body;
  std::string_view content_type;  // from the name's extension; a string literal
};

// The file named `name` ("index.html", "app.js", ...), or nothing.
std::optional<UiFile> FindUiFile(std::string_view name);

}  // namespace driftwatch::api
