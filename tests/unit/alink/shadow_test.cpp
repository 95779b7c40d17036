#include "iot/alink/shadow.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace shadow = iot::alink::shadow;
using nlohmann::json;

namespace {

// The error code ParseRequest answers `text` with; 0 when it is a usable request.
int ParseCode(const std::string& text) {
  shadow::Request r;
  auto e = shadow::ParseRequest(text, r);
  return e ? e->code : 0;
}

shadow::Request Parsed(const std::string& text) {
  shadow::Request r;
  auto e = shadow::ParseRequest(text, r);
  INFO(text << " -> " << (e ? e->message : ""));
  REQUIRE_FALSE(e);
  return r;
}

// `levels` nested objects: 1 is {"k":1}.
json Nested(int levels) {
  json v = 1;
  for (int i = 0; i < levels; ++i) {
    v = json{{"k", v}};
  }
  return v;
}

}  // namespace

TEST_CASE("Shadow: every malformed request gets its error code", "[alink][shadow]") {
  CHECK(ParseCode("{not json") == shadow::kBadJson);
  CHECK(ParseCode("[1,2]") == shadow::kBadJson);
  CHECK(ParseCode(R"({"state":{"reported":{"a":1}},"version":1})") == shadow::kNoMethod);
  CHECK(ParseCode(R"({"method":"patch","state":{"reported":{"a":1}}})") == shadow::kInvalidMethod);
  CHECK(ParseCode(R"({"method":7})") == shadow::kInvalidMethod);
  CHECK(ParseCode(R"({"method":"update","version":1})") == shadow::kNoState);
  CHECK(ParseCode(R"({"method":"update","state":"x","version":1})") == shadow::kNoState);
  CHECK(ParseCode(R"({"method":"update","state":{"reported":{"a":1}},"version":"2"})") ==
        shadow::kVersionNotNumber);
  CHECK(ParseCode(R"({"method":"update","state":{"reported":{"a":1}},"version":1.5})") ==
        shadow::kVersionNotNumber);
  CHECK(ParseCode(R"({"method":"update","state":{},"version":1})") == shadow::kNoReported);
  CHECK(ParseCode(R"({"method":"delete","state":{"desired":"null"},"version":1})") == shadow::kNoReported);
  CHECK(ParseCode(R"({"method":"update","state":{"reported":{}},"version":1})") == shadow::kReportedEmpty);
  CHECK(ParseCode(R"({"method":"update","state":{"reported":[1]},"version":1})") == shadow::kBadJson);
  CHECK(ParseCode(R"({"method":"update","state":{"reported":"nil"},"version":1})") == shadow::kBadJson);
  CHECK(ParseCode(R"({"method":"delete","state":{"reported":{"a":1}},"version":1})") == shadow::kBadJson);
  CHECK(ParseCode(R"({"method":"get"})") == 0);
  CHECK(ParseCode(R"({"method":"update","state":{"desired":"null"},"version":3})") == 0);
}

TEST_CASE("Shadow: size and depth limits of a request", "[alink][shadow]") {
  // Depth: reported may hold 5 levels, itself included.
  json ok = {{"method", "update"}, {"state", {{"reported", Nested(5)}}}, {"version", 1}};
  CHECK(ParseCode(ok.dump()) == 0);
  json deep = {{"method", "update"}, {"state", {{"reported", Nested(6)}}}, {"version", 1}};
  CHECK(ParseCode(deep.dump()) == shadow::kBadJson);
  CHECK(ParseCode(std::string(100000, '[')) == shadow::kBadJson);  // refused before parsing
  // Size: 16 KB.
  json big = {{"method", "update"}, {"state", {{"reported", {{"a", std::string(16 * 1024, 'x')}}}}}};
  CHECK(ParseCode(big.dump()) == shadow::kBadJson);
  json fits = {{"method", "update"}, {"state", {{"reported", {{"a", std::string(15 * 1024, 'x')}}}}}};
  CHECK(ParseCode(fits.dump()) == 0);
}

TEST_CASE("Shadow: updates merge, \"null\" removes, metadata in seconds", "[alink][shadow]") {
  shadow::Document doc;
  REQUIRE_FALSE(shadow::Apply(
      doc,
      Parsed(
          R"({"method":"update","state":{"reported":{"color":"red","cfg":{"a":1,"b":2},"list":[1,2]}},"version":1})"),
      1000));
  CHECK(doc.version == 1);
  CHECK(doc.timestamp == 1000);
  CHECK(doc.reported_meta["color"]["timestamp"] == 1000);
  REQUIRE_FALSE(shadow::Apply(
      doc,
      Parsed(
          R"({"method":"update","state":{"reported":{"color":"null","cfg":{"b":"null","c":3},"list":[9]}},"version":5})"),
      1010));
  CHECK(doc.version == 5);
  CHECK(doc.reported == json::parse(R"({"cfg":{"a":1,"c":3},"list":[9]})"));  // arrays replaced whole
  CHECK_FALSE(doc.reported_meta.contains("color"));
  CHECK(doc.reported_meta["cfg"]["timestamp"] == 1010);
  // Desired next to reported; "null" clears a whole section.
  REQUIRE_FALSE(
      shadow::Apply(doc, Parsed(R"({"method":"update","state":{"desired":{"color":"green"}}})"), 1020));
  CHECK(doc.version == 6);  // no version: the next one
  CHECK(doc.desired == json{{"color", "green"}});
  REQUIRE_FALSE(
      shadow::Apply(doc, Parsed(R"({"method":"update","state":{"desired":"null"},"version":7})"), 1030));
  CHECK(doc.desired.empty());
  CHECK(doc.desired_meta.empty());
  REQUIRE_FALSE(shadow::Apply(
      doc, Parsed(R"({"method":"delete","state":{"reported":{"list":"null"}},"version":8})"), 1040));
  CHECK(doc.reported == json::parse(R"({"cfg":{"a":1,"c":3}})"));
  REQUIRE_FALSE(
      shadow::Apply(doc, Parsed(R"({"method":"delete","state":{"reported":"null"},"version":9})"), 1050));
  CHECK(doc.Empty());
}

TEST_CASE("Shadow: versions must grow, -1 resets to 0", "[alink][shadow]") {
  shadow::Document doc;
  doc.version = 4;
  shadow::Document copy = doc;
  auto conflict =
      shadow::Apply(copy, Parsed(R"({"method":"update","state":{"reported":{"a":1}},"version":4})"), 1);
  REQUIRE(conflict);
  CHECK(conflict->code == shadow::kVersionConflict);
  REQUIRE_FALSE(
      shadow::Apply(doc, Parsed(R"({"method":"update","state":{"reported":{"a":1}},"version":-1})"), 1));
  CHECK(doc.version == 0);
  REQUIRE_FALSE(
      shadow::Apply(doc, Parsed(R"({"method":"update","state":{"reported":{"a":2}},"version":1})"), 1));
  CHECK(doc.version == 1);
}

TEST_CASE("Shadow: attribute count and stored size limits", "[alink][shadow]") {
  shadow::Document doc;
  json reported = json::object();
  for (int i = 0; i < 128; ++i) {
    reported["a" + std::to_string(i)] = i;
  }
  shadow::Request r;
  r.method = shadow::Method::kUpdate;
  r.reported = reported;
  REQUIRE_FALSE(shadow::Apply(doc, r, 1));
  r.reported = json{{"one_more", 1}};
  auto e = shadow::Apply(doc, r, 1);
  REQUIRE(e);
  CHECK(e->code == shadow::kTooManyAttributes);
  // Each request fits, together they do not.
  shadow::Document big;
  r.reported = json{{"a", std::string(9000, 'x')}};
  REQUIRE_FALSE(shadow::Apply(big, r, 1));
  r.reported = json{{"b", std::string(9000, 'x')}};
  e = shadow::Apply(big, r, 1);
  REQUIRE(e);
  CHECK(e->code == shadow::kBadJson);
  // Depth is checked for operators' changes too (they are not parsed by ParseRequest).
  r.reported.reset();
  r.desired = Nested(6);
  e = shadow::Apply(doc, r, 1);
  REQUIRE(e);
  CHECK(e->code == shadow::kBadJson);
}

TEST_CASE("Shadow: stored text and answers", "[alink][shadow]") {
  shadow::Document doc;
  REQUIRE_FALSE(
      shadow::Apply(doc, Parsed(R"({"method":"update","state":{"reported":{"t":21}},"version":3})"), 77));
  shadow::Document back = shadow::FromStore(shadow::StoreText(doc), doc.version);
  CHECK(back.reported == doc.reported);
  CHECK(back.reported_meta == doc.reported_meta);
  CHECK(back.timestamp == 77);
  CHECK(back.version == 3);
  CHECK(shadow::FromStore("not json", 2).Empty());

  CHECK(json::parse(shadow::SuccessText(3, 80)) ==
        json::parse(R"({"method":"reply","payload":{"status":"success","version":3},"timestamp":80})"));
  CHECK(
      json::parse(shadow::ErrorText({409, "version conflict"}, 80)) ==
      json::parse(
          R"({"method":"reply","payload":{"status":"error","content":{"errorcode":"409","errormessage":"version conflict"}},"timestamp":80})"));
  json get = json::parse(shadow::DocumentText(doc, "reply", 80));
  CHECK(get["method"] == "reply");
  CHECK(get["payload"]["status"] == "success");
  CHECK(get["payload"]["state"] == json{{"reported", {{"t", 21}}}});  // no empty desired
  CHECK(get["payload"]["metadata"]["reported"]["t"]["timestamp"] == 77);
  CHECK(get["version"] == 3);
  CHECK(get["timestamp"] == 80);
  json api = shadow::DocumentJson(doc);
  CHECK(api["state"]["desired"] == json::object());
  CHECK(api["version"] == 3);
  CHECK(api["timestamp"] == 77);
}
