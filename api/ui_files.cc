#include "api/ui_files.h"

namespace driftwatch::api {
namespace {

struct EmbeddedFile {
  std::string_view name;
  std::string_view bytes;
};

#include "ui_files.inc"  // kEmbeddedFiles, generated at build time (api/CMakeLists.txt)

std::string_view ContentTypeOf(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".png")) return "image/png";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

std::optional<UiFile> FindUiFile(std::string_view name) {
  for (const EmbeddedFile& file : kEmbeddedFiles) {
    if (file.name == name) return UiFile{file.bytes, ContentTypeOf(name)};
  }
  return std::nullopt;
}

}  // namespace driftwatch::api
