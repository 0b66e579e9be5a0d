// The route table against the OpenAPI document, the rendered /docs page, and the routing that
// needs no engine: 404, 405 with Allow, and bearer-token authentication.
#include "api/router.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cctype>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "api/openapi.h"

namespace driftwatch::api {
namespace {

using MethodAndPath = std::pair<std::string, std::string>;

std::set<MethodAndPath> DocumentedOperations(const rapidjson::Document& document) {
  std::set<MethodAndPath> operations;
  for (const auto& path : document["paths"].GetObject()) {
    for (const auto& operation : path.value.GetObject()) {
      std::string method = operation.name.GetString();
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      operations.emplace(method, path.name.GetString());
    }
  }
  return operations;
}

std::set<MethodAndPath> RegisteredRoutes() {
  std::set<MethodAndPath> routes;
  for (const RouteSpec& route : Routes()) {
    routes.emplace(std::string(route.method), std::string(route.path));
  }
  return routes;
}

TEST(OpenApi, DocumentsExactlyTheRegisteredRoutes) {
  const std::string json = OpenApiDocument("9.8.7");
  rapidjson::Document document;
  document.Parse(json.c_str());
  ASSERT_FALSE(document.HasParseError());
  EXPECT_EQ(document["openapi"].GetString(), std::string("3.0.3"));
  EXPECT_EQ(document["info"]["version"].GetString(), std::string("9.8.7"));
  EXPECT_EQ(DocumentedOperations(document), RegisteredRoutes());
  EXPECT_EQ(RegisteredRoutes().size(), Routes().size()) << "a route is registered twice";
}

bool IsLowerCamelCase(const std::string& id) {
  if (id.empty() || !std::islower(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A response of the document, following a "$ref" to #/components/responses.
const rapidjson::Value& Resolved(const rapidjson::Document& document,
                                 const rapidjson::Value& response) {
  if (!response.HasMember("$ref")) return response;
  const std::string ref = response["$ref"].GetString();
  return document["components"]["responses"][ref.substr(ref.rfind('/') + 1).c_str()];
}

// Client generators name their calls by operationId, and the HTTP layer (api/http_server.cc,
// api/http_transport.cc) answers these for any request before the router sees it, each with the
// JSON error body, so every operation lists them; its 503 names too_many_connections (the answer
// beyond server.max_connections) besides any 503 of its own. Every operation but the liveness probe
// and the dashboard's files also needs the token when server.auth_tokens is set.
TEST(OpenApi, EveryOperationHasAnIdAndListsTheHttpLayersAnswers) {
  const std::string json = OpenApiDocument("1");
  rapidjson::Document document;
  document.Parse(json.c_str());
  ASSERT_FALSE(document.HasParseError());
  std::set<std::string> ids;
  for (const auto& path : document["paths"].GetObject()) {
    for (const auto& operation : path.value.GetObject()) {
      const std::string where =
          std::string(operation.name.GetString()) + " " + path.name.GetString();
      ASSERT_TRUE(operation.value.HasMember("operationId")) << where;
      const std::string id = operation.value["operationId"].GetString();
      EXPECT_TRUE(IsLowerCamelCase(id)) << where << ": " << id;
      EXPECT_TRUE(ids.insert(id).second) << "operationId " << id << " is used twice";

      const rapidjson::Value& responses = operation.value["responses"];
      // A success answer, except the redirect to the dashboard (redocly.yaml leaves this to us).
      const bool success = responses.HasMember("200") || responses.HasMember("202");
      EXPECT_EQ(success, id != "getRoot") << where;
      for (const char* status : {"400", "408", "413", "414", "431", "500", "501", "503", "505"}) {
        if (!responses.HasMember(status)) {
          ADD_FAILURE() << where << " does not list " << status;
          continue;
        }
        const rapidjson::Value& response = Resolved(document, responses[status]);
        EXPECT_TRUE(response.HasMember("content") &&
                    response["content"].HasMember("application/json"))
            << where << ": " << status << " is not documented as a JSON error";
      }
      // ?endpoint= is checked on every path that takes it: a bad one is 422.
      if (operation.value.HasMember("parameters")) {
        for (const auto& parameter : operation.value["parameters"].GetArray()) {
          if (parameter.HasMember("$ref") && std::string_view(parameter["$ref"].GetString()) ==
                                                 "#/components/parameters/Endpoint") {
            EXPECT_TRUE(responses.HasMember("422"))
                << where << " takes ?endpoint= but lists no 422";
          }
        }
      }
      if (responses.HasMember("503")) {
        const std::string unavailable =
            Resolved(document, responses["503"])["description"].GetString();
        EXPECT_NE(unavailable.find("too_many_connections"), std::string::npos) << where;
      }
      // The liveness probe, and the dashboard's files with the redirect to them.
      const bool is_public = where == "get /health" || where == "get /" || where == "get /ui/" ||
                             where == "get /ui/{file}";
      EXPECT_EQ(responses.HasMember("401"), !is_public) << where;
    }
  }
  EXPECT_EQ(ids.size(), Routes().size());
}

TEST(OpenApi, EveryReferenceResolves) {
  const std::string json = OpenApiDocument("1");
  // Every "#/components/<kind>/<name>" in the text must name an existing component.
  rapidjson::Document document;
  document.Parse(json.c_str());
  ASSERT_FALSE(document.HasParseError());
  size_t references = 0;
  for (size_t at = json.find("\"#/components/"); at != std::string::npos;
       at = json.find("\"#/components/", at + 1)) {
    const size_t end = json.find('"', at + 1);
    const std::string ref = json.substr(at + 14, end - at - 14);  // "<kind>/<name>"
    const std::string kind = ref.substr(0, ref.find('/'));
    const std::string name = ref.substr(ref.find('/') + 1);
    ASSERT_TRUE(document["components"].HasMember(kind.c_str())) << ref;
    EXPECT_TRUE(document["components"][kind.c_str()].HasMember(name.c_str())) << ref;
    ++references;
  }
  EXPECT_GT(references, 20u);
}

TEST(OpenApi, DocsPageShowsEveryOperationAndSchemaWithoutExternalResources) {
  const std::string json = OpenApiDocument("1.2.3");
  const std::string html = RenderDocsHtml(json);
  EXPECT_NE(html.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(html.find("DriftWatch API"), std::string::npos);
  EXPECT_NE(html.find("1.2.3"), std::string::npos);
  for (const RouteSpec& route : Routes()) {
    EXPECT_NE(html.find("<code>" + std::string(route.path) + "</code>"), std::string::npos)
        << route.path;
  }
  rapidjson::Document document;
  document.Parse(json.c_str());
  for (const auto& path : document["paths"].GetObject()) {
    for (const auto& operation : path.value.GetObject()) {
      const std::string id = operation.value["operationId"].GetString();
      EXPECT_NE(html.find("operationId: <code>" + id + "</code>"), std::string::npos) << id;
    }
  }
  for (const auto& schema : document["components"]["schemas"].GetObject()) {
    EXPECT_NE(html.find(std::string("id=\"schema-") + schema.name.GetString() + "\""),
              std::string::npos)
        << schema.name.GetString();
  }
  // Offline: nothing is fetched from elsewhere.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(RenderDocsHtml("{not json").find("could not be rendered"), std::string::npos);
}

class RouterTest : public ::testing::Test {
 protected:
  Reply Handle(std::string_view method, std::string_view path, std::string authorization = "") {
    ApiContext context;
    context.config = &config_;
    context.docs_html = "<html>docs</html>";
    context.openapi_json = "{}";
    Router router(std::move(context));
    ApiRequest request;
    request.method = method;
    request.path = path;
    request.authorization = std::move(authorization);
    return router.Handle(request);
  }

  static std::string ErrorCode(const Reply& reply) {
    rapidjson::Document json;
    json.Parse(reply.body.c_str());
    return json.IsObject() && json.HasMember("error") ? json["error"].GetString() : "";
  }

  static std::string ErrorMessage(const Reply& reply) {
    rapidjson::Document json;
    json.Parse(reply.body.c_str());
    return json.IsObject() && json.HasMember("message") ? json["message"].GetString() : "";
  }

  Config config_;
};

TEST_F(RouterTest, UnknownPathsAre404AndWrongMethodsAre405WithAllow) {
  Reply reply = Handle("GET", "/nope");
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(ErrorCode(reply), "not_found");
  EXPECT_EQ(Handle("GET", "/v1/health/").status, 404);
  EXPECT_EQ(Handle("GET", "/v1/health/a/b").status, 404);
  EXPECT_EQ(Handle("GET", "").status, 404);

  reply = Handle("GET", "/v1/telemetry");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(ErrorCode(reply), "method_not_allowed");
  EXPECT_EQ(reply.allow, std::vector<std::string>{"POST"});
  reply = Handle("DELETE", "/v1/baseline/x");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.allow, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_NE(ErrorMessage(reply).find("(allowed: GET, HEAD)"), std::string::npos);
  EXPECT_EQ(Handle("PUT", "/v1/baseline/x/reset").allow, std::vector<std::string>{"POST"});

  // HEAD is GET without the body, which the HTTP layer drops.
  EXPECT_EQ(Handle("HEAD", "/health").status, 200);
  reply = Handle("HEAD", "/v1/telemetry");
  EXPECT_EQ(reply.status, 405);
  EXPECT_NE(ErrorMessage(reply).find("HEAD is not allowed"), std::string::npos);
}

TEST_F(RouterTest, RedirectsTheRootToTheDashboardAndServesItsFiles) {
  Reply reply = Handle("GET", "/");
  EXPECT_EQ(reply.status, 302);
  EXPECT_EQ(reply.location, "/ui/");
  reply = Handle("GET", "/ui/");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/html; charset=utf-8");
  EXPECT_NE(reply.security_policy.find("script-src 'self'"), std::string_view::npos);
  EXPECT_EQ(reply.body, Handle("GET", "/ui/index.html").body);
  EXPECT_EQ(Handle("GET", "/ui/app.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Handle("GET", "/ui/uPlot.min.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(Handle("GET", "/ui/other.js").status, 404);
  EXPECT_EQ(Handle("GET", "/ui/%2E%2E%2Fapp.js").status, 404);
}

TEST_F(RouterTest, ServesLivenessAndDocs) {
  Reply reply = Handle("GET", "/health");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"({"status":"ok"})");
  reply = Handle("GET", "/docs");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Handle("GET", "/openapi.json").content_type, "application/json");
  // Segments are percent-decoded before they are matched.
  EXPECT_EQ(Handle("GET", "/%68ealth").status, 200);
}

TEST_F(RouterTest, TokensWhenConfiguredProtectEverythingButLiveness) {
  config_.server.auth_tokens = {"alpha", "beta-token"};
  Reply reply = Handle("GET", "/v1/services");
  EXPECT_EQ(reply.status, 401);
  EXPECT_EQ(ErrorCode(reply), "unauthorized");
  EXPECT_TRUE(reply.challenge);
  EXPECT_EQ(Handle("GET", "/v1/services", "Bearer wrong").status, 401);
  EXPECT_EQ(Handle("GET", "/v1/services", "Bearer alph").status, 401);
  EXPECT_EQ(Handle("GET", "/v1/services", "Basic alpha").status, 401);
  EXPECT_EQ(Handle("GET", "/nope", "").status, 401);  // paths are not revealed either
  EXPECT_EQ(Handle("GET", "/health").status, 200);
  EXPECT_EQ(Handle("POST", "/health").status, 401);  // only GET /health is open
  EXPECT_EQ(Handle("GET", "/docs").status, 401);
  EXPECT_EQ(Handle("GET", "/openapi.json").status, 401);
  EXPECT_EQ(Handle("GET", "/docs", "Bearer alpha").status, 200);
  // The dashboard's files (no data in them) and the redirect to them are open, to GET only.
  EXPECT_EQ(Handle("GET", "/ui/").status, 200);
  EXPECT_EQ(Handle("HEAD", "/ui/app.js").status, 200);
  EXPECT_EQ(Handle("GET", "/").status, 302);
  EXPECT_EQ(Handle("POST", "/ui/").status, 401);
  EXPECT_EQ(Handle("GET", "/uix").status, 401);
  // With a valid token the request goes on (to a 404 here: no engine is involved).
  EXPECT_EQ(Handle("GET", "/nope", "Bearer beta-token").status, 404);
  EXPECT_EQ(Handle("GET", "/nope", "bearer alpha").status, 404);
}

TEST(PercentDecode, DecodesEscapesAndRefusesBrokenOnes) {
  std::string out;
  EXPECT_TRUE(PercentDecode("svc%3Aeu%2d1", &out));
  EXPECT_EQ(out, "svc:eu-1");
  EXPECT_FALSE(PercentDecode("svc%3", &out));
  EXPECT_FALSE(PercentDecode("svc%zz", &out));
  EXPECT_TRUE(PercentDecode("", &out));
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace driftwatch::api
