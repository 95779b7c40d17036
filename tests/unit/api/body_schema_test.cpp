#include "http/body_schema.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace {

using iot::api::BodySchema;
using iot::api::FieldType;

iot::api::Request JsonRequest(std::string body, std::string content_type = "application/json") {
  iot::api::Request request;
  request.headers.emplace_back("content-type", std::move(content_type));
  request.body = std::move(body);
  return request;
}

std::vector<std::string> Paths(const iot::api::ApiError& e) {
  std::vector<std::string> out;
  for (const auto& item : e.errors) {
    out.push_back(item.path + ": " + item.message);
  }
  return out;
}

}  // namespace

TEST_CASE("BodySchema: reports every unknown, mistyped and missing field at once", "[api][schema]") {
  const BodySchema schema = BodySchema()
                                .Required("name", FieldType::kString)
                                .Optional("nodeType", FieldType::kString, {.one_of = {"device", "gateway"}})
                                .Optional("retentionDays", FieldType::kInteger, {.min = 1, .max = 3650})
                                .Optional("description", FieldType::kString, {.nullable = true});
  try {
    iot::api::ParseJsonBody(
        JsonRequest(R"({"nodeType":"hub","retentionDays":1.5,"description":null,"colour":"red"})"), schema);
    FAIL("expected ApiError");
  } catch (const iot::api::ApiError& e) {
    CHECK(e.status == 400);
    CHECK(e.detail == "4 problems in the request body");
    CHECK(Paths(e) == std::vector<std::string>{
                          "/name: is required", "/nodeType: must be one of: device, gateway",
                          "/retentionDays: must be an integer, got number", "/colour: unknown field"});
  }
}

TEST_CASE("BodySchema: nested objects, arrays and value maps get JSON pointers", "[api][schema]") {
  auto profile = std::make_shared<BodySchema>();
  profile->Required("productKey", FieldType::kString);
  const BodySchema schema =
      BodySchema()
          .Optional("profile", FieldType::kObject, {.object = profile})
          .Optional("deviceNames", FieldType::kArray, {.max = 2, .items = FieldType::kString})
          .Optional("versions", FieldType::kObject,
                    {.object = std::make_shared<BodySchema>(BodySchema().Values(FieldType::kInteger))});
  std::vector<iot::api::ErrorItem> out;
  schema.Check(
      nlohmann::json::parse(R"({"profile":{"x/y":1},"deviceNames":["a",2,"c"],"versions":{"t":"1"}})"), "",
      out);
  std::vector<std::string> got;
  for (const auto& e : out) {
    got.push_back(e.path + ": " + e.message);
  }
  CHECK(got == std::vector<std::string>{"/profile/productKey: is required", "/profile/x~1y: unknown field",
                                        "/deviceNames: must have at most 2 items",
                                        "/deviceNames/1: must be a string, got integer",
                                        "/versions/t: must be an integer, got string"});
}

TEST_CASE("BodySchema: AllowUnknown accepts extra keys (TSL documents)", "[api][schema]") {
  const BodySchema schema = BodySchema().Optional("profile", FieldType::kObject).AllowUnknown();
  std::vector<iot::api::ErrorItem> out;
  schema.Check(nlohmann::json::parse(R"({"link":"x","properties":[]})"), "", out);
  CHECK(out.empty());
}

TEST_CASE("BodySchema: AsPatch makes every field optional, keeps the constraints, drops the fixed ones",
          "[api][schema]") {
  const BodySchema create = BodySchema()
                                .Required("name", FieldType::kString, {.min = 1})
                                .Required("source", FieldType::kObject)
                                .Optional("level", FieldType::kInteger, {.max = 3});
  const BodySchema patch = create.AsPatch({"source"});
  const auto problems = [&](const BodySchema& schema, const char* body) {
    std::vector<iot::api::ErrorItem> out;
    schema.Check(nlohmann::json::parse(body), "", out);
    std::vector<std::string> got;
    for (const auto& e : out) {
      got.push_back(e.path + ": " + e.message);
    }
    return got;
  };
  CHECK(problems(patch, "{}").empty());
  CHECK(problems(create, "{}") == std::vector<std::string>{"/name: is required", "/source: is required"});
  CHECK(problems(patch, R"({"name":"","level":4})") ==
        std::vector<std::string>{"/name: must be at least 1 characters", "/level: must be <= 3"});
  CHECK(problems(patch, R"({"source":{}})") == std::vector<std::string>{"/source: unknown field"});
}

TEST_CASE("ParseJsonBody: 415 unless application/json, 400 with the position when malformed",
          "[api][schema]") {
  CHECK_NOTHROW(iot::api::ParseJsonBody(JsonRequest("{}", "Application/JSON; charset=utf-8")));
  try {
    iot::api::ParseJsonBody(JsonRequest("{}", "text/plain"));
    FAIL("expected 415");
  } catch (const iot::api::ApiError& e) {
    CHECK(e.status == 415);
  }
  try {
    iot::api::ParseJsonBody(JsonRequest("{}", ""));
    FAIL("expected 415");
  } catch (const iot::api::ApiError& e) {
    CHECK(e.status == 415);
  }
  try {
    iot::api::ParseJsonBody(JsonRequest(R"({"a": tru})"));
    FAIL("expected 400");
  } catch (const iot::api::ApiError& e) {
    CHECK(e.status == 400);
    CHECK(e.detail.find("malformed JSON at byte") == 0);
  }
  try {
    iot::api::ParseJsonBody(JsonRequest("[1]"), BodySchema());
    FAIL("expected 400");
  } catch (const iot::api::ApiError& e) {
    CHECK(e.errors.at(0).message == "must be an object, got array");
  }
}

TEST_CASE("ParseJsonBody: nesting deeper than 64 is a 400 found while parsing", "[api][schema]") {
  const auto nested = [](std::size_t depth) {
    return R"({"params":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  CHECK_NOTHROW(iot::api::ParseJsonBody(JsonRequest(nested(64))));
  for (std::size_t depth : {65, 100000}) {
    try {
      iot::api::ParseJsonBody(JsonRequest(nested(depth)), BodySchema().Values(FieldType::kAny));
      FAIL("expected 400");
    } catch (const iot::api::ApiError& e) {
      CHECK(e.status == 400);
      CHECK(e.detail == "JSON nested deeper than 64");
    }
  }
}
