#include "api/openapi.h"

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <string>

namespace driftwatch::api {
namespace {

using rapidjson::Value;

constexpr std::string_view kDocument =
#include "api/openapi_document.inc"
    ;

constexpr std::string_view kVersionPlaceholder = "@VERSION@";
constexpr const char* kMethods[] = {"get", "post", "put", "patch", "delete"};

constexpr std::string_view kStyle = R"css(
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d2630; line-height: 1.5; }
h1 { border-bottom: 2px solid #1d2630; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #c9d1d9; }
.operation { margin: 1.5rem 0; padding: 0.5rem 1rem; border: 1px solid #c9d1d9; border-radius: 6px; }
.method { display: inline-block; min-width: 4rem; padding: 0 0.4rem; border-radius: 4px;
          color: #fff; font-weight: bold; text-align: center; }
.get { background: #1f6feb; } .post { background: #2da44e; } .put, .patch { background: #bf8700; }
.delete { background: #cf222e; }
code, pre { font-family: ui-monospace, monospace; background: #f3f5f7; }
pre { padding: 0.6rem; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
)css";

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view Str(const Value& object, const char* key) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::string Anchor(std::string_view prefix, std::string_view text) {
  std::string anchor(prefix);
  for (char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    anchor += plain ? c : '-';
  }
  return anchor;
}

class Renderer {
 public:
  explicit Renderer(const rapidjson::Document& document) : document_(document) {}

  std::string Render() {
    const Value& info = document_["info"];
    const std::string title = Escape(Str(info, "title"));
    html_ += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
    html_ += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
    html_ += "<title>" + title + "</title><style>" + std::string(kStyle) + "</style></head><body>";
    html_ += "<h1>" + title + " <small>" + Escape(Str(info, "version")) + "</small></h1>";
    html_ += "<p>" + Escape(Str(info, "description")) + "</p>";
    html_ += "<p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI " +
             Escape(Str(document_, "openapi")) + ").</p>";
    Contents();
    html_ += "<h2>Endpoints</h2>";
    ForEachOperation([this](std::string_view path, const char* method, const Value& operation) {
      Operation(path, method, operation);
    });
    Schemas();
    html_ += "</body></html>\n";
    return html_;
  }

 private:
  template <typename Visit>
  void ForEachOperation(Visit visit) {
    for (const auto& path : document_["paths"].GetObject()) {
      for (const char* method : kMethods) {
        auto operation = path.value.FindMember(method);
        if (operation != path.value.MemberEnd()) {
          visit(std::string_view(path.name.GetString(), path.name.GetStringLength()), method,
                operation->value);
        }
      }
    }
  }

  // "#/components/schemas/Sample" -> the value it points to (nullptr if none).
  const Value* Resolve(const Value& maybe_ref) const {
    const std::string_view ref = Str(maybe_ref, "$ref");
    if (ref.empty()) return &maybe_ref;
    if (!ref.starts_with("#")) return nullptr;
    return rapidjson::Pointer(std::string(ref.substr(1)).c_str()).Get(document_);
  }

  std::string TypeOf(const Value& schema) const {
    const std::string_view ref = Str(schema, "$ref");
    if (!ref.empty()) {
      const std::string name(ref.substr(ref.rfind('/') + 1));
      return "<a href=\"#" + Anchor("schema-", name) + "\">" + Escape(name) + "</a>";
    }
    std::string type(Str(schema, "type"));
    if (type.empty()) type = "any";
    if (type == "array" && schema.HasMember("items")) {
      type = "array of " + TypeOf(schema["items"]);
    } else {
      type = Escape(type);
    }
    if (!Str(schema, "format").empty()) type += " (" + Escape(Str(schema, "format")) + ")";
    if (schema.HasMember("enum")) {
      std::string values;
      for (const Value& value : schema["enum"].GetArray()) {
        if (!value.IsString()) continue;
        values += (values.empty() ? "" : ", ") + std::string("<code>") + Escape(value.GetString()) +
                  "</code>";
      }
      type += ": one of " + values;
    }
    if (schema.HasMember("nullable") && schema["nullable"].IsTrue()) type += " or null";
    return type;
  }

  void Contents() {
    html_ += "<h2>Contents</h2><ul>";
    ForEachOperation([this](std::string_view path, const char* method, const Value& operation) {
      html_ += "<li><a href=\"#" + Anchor(std::string("op-") + method + "-", path) + "\"><code>" +
               Escape(method) + " " + Escape(path) + "</code></a> " +
               Escape(Str(operation, "summary")) + "</li>";
    });
    html_ += "<li><a href=\"#schemas\">Schemas</a></li></ul>";
  }

  void Operation(std::string_view path, const char* method, const Value& operation) {
    std::string upper(method);
    for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
    html_ += "<section class=\"operation\" id=\"" +
             Anchor(std::string("op-") + method + "-", path) + "\">";
    html_ += "<h3><span class=\"method " + std::string(method) + "\">" + upper + "</span> <code>" +
             Escape(path) + "</code></h3>";
    html_ += "<p><strong>" + Escape(Str(operation, "summary")) + ".</strong> " +
             Escape(Str(operation, "description")) + "</p>";
    if (!Str(operation, "operationId").empty()) {
      html_ += "<p>operationId: <code>" + Escape(Str(operation, "operationId")) + "</code></p>";
    }
    Parameters(operation);
    RequestBody(operation);
    Responses(operation);
    html_ += "</section>";
  }

  void Parameters(const Value& operation) {
    if (!operation.HasMember("parameters")) return;
    html_ +=
        "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
        "<th>required</th><th>description</th></tr>";
    for (const Value& entry : operation["parameters"].GetArray()) {
      const Value* parameter = Resolve(entry);
      if (parameter == nullptr) continue;
      const bool required = parameter->HasMember("required") && (*parameter)["required"].IsTrue();
      html_ += "<tr><td><code>" + Escape(Str(*parameter, "name")) + "</code></td><td>" +
               Escape(Str(*parameter, "in")) + "</td><td>" +
               (parameter->HasMember("schema") ? TypeOf((*parameter)["schema"]) : "") +
               "</td><td>" + (required ? "yes" : "no") + "</td><td>" +
               Escape(Str(*parameter, "description")) + "</td></tr>";
    }
    html_ += "</table>";
  }

  void RequestBody(const Value& operation) {
    if (!operation.HasMember("requestBody")) return;
    const Value* body = Resolve(operation["requestBody"]);
    if (body == nullptr || !body->HasMember("content")) return;
    html_ += "<h4>Request body</h4>";
    for (const auto& content : (*body)["content"].GetObject()) {
      html_ += "<p><code>" + Escape(content.name.GetString()) + "</code>: " +
               (content.value.HasMember("schema") ? TypeOf(content.value["schema"]) : "") + "</p>";
      if (content.value.HasMember("example")) Example(content.value["example"]);
    }
  }

  void Responses(const Value& operation) {
    if (!operation.HasMember("responses")) return;
    html_ += "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>";
    for (const auto& entry : operation["responses"].GetObject()) {
      const Value* response = Resolve(entry.value);
      if (response == nullptr) continue;
      std::string body;
      if (response->HasMember("content")) {
        for (const auto& content : (*response)["content"].GetObject()) {
          if (content.value.HasMember("schema")) body += TypeOf(content.value["schema"]);
        }
      }
      std::string description = Escape(Str(*response, "description"));
      if (response->HasMember("headers")) {
        for (const auto& header : (*response)["headers"].GetObject()) {
          description += " Header <code>" + Escape(header.name.GetString()) +
                         "</code>: " + Escape(Str(header.value, "description"));
        }
      }
      html_ += "<tr><td>";
      html_ += Escape(entry.name.GetString());
      html_ += "</td><td>";
      html_ += description;
      html_ += "</td><td>";
      html_ += body;
      html_ += "</td></tr>";
    }
    html_ += "</table>";
  }

  void Example(const Value& example) {
    rapidjson::StringBuffer buffer;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    example.Accept(writer);
    html_ += "<pre>" + Escape(std::string_view(buffer.GetString(), buffer.GetSize())) + "</pre>";
  }

  void Schemas() {
    html_ += "<h2 id=\"schemas\">Schemas</h2>";
    const Value& schemas = document_["components"]["schemas"];
    for (const auto& entry : schemas.GetObject()) {
      const std::string_view name(entry.name.GetString(), entry.name.GetStringLength());
      const Value& schema = entry.value;
      html_ += "<section id=\"" + Anchor("schema-", name) + "\"><h3>" + Escape(name) + "</h3>";
      html_ += "<p>" + TypeOf(schema) + ". " + Escape(Str(schema, "description")) + "</p>";
      if (schema.HasMember("properties")) {
        html_ += "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>";
        for (const auto& property : schema["properties"].GetObject()) {
          bool required = false;
          if (schema.HasMember("required")) {
            for (const Value& item : schema["required"].GetArray()) {
              required = required || item == property.name;
            }
          }
          html_ += "<tr><td><code>" + Escape(property.name.GetString()) + "</code></td><td>" +
                   TypeOf(property.value) + "</td><td>" + (required ? "yes" : "no") + "</td><td>" +
                   Escape(Str(property.value, "description")) + "</td></tr>";
        }
        html_ += "</table>";
      }
      html_ += "</section>";
    }
  }

  const rapidjson::Document& document_;
  std::string html_;
};

}  // namespace

std::string OpenApiDocument(std::string_view version) {
  std::string document(kDocument);
  const size_t at = document.find(kVersionPlaceholder);
  if (at != std::string::npos) document.replace(at, kVersionPlaceholder.size(), version);
  return document;
}

std::string RenderDocsHtml(std::string_view openapi_json) {
  rapidjson::Document document;
  document.Parse(openapi_json.data(), openapi_json.size());
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("info") ||
      !document.HasMember("paths") || !document.HasMember("components")) {
    return "<!DOCTYPE html><html><body><p>The API document could not be rendered; see "
           "<a href=\"/openapi.json\">/openapi.json</a>.</p></body></html>\n";
  }
  return Renderer(document).Render();
}

}  // namespace driftwatch::api
