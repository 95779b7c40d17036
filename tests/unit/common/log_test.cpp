#include "iot/common/log.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/common/log_format.hpp"

TEST_CASE("Log: Quote escapes quotes, backslashes and control bytes", "[common][log]") {
  CHECK(iot::log::Quote("plain") == "\"plain\"");
  CHECK(iot::log::Quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(iot::log::Quote(std::string_view("x\ny\0", 4)) == "\"x\\x0ay\\x00\"");
}

TEST_CASE("Log: ParseLevel accepts the four names only", "[common][log]") {
  iot::log::Level level{};
  CHECK(iot::log::ParseLevel("warn", level));
  CHECK(level == iot::log::Level::kWarn);
  CHECK_FALSE(iot::log::ParseLevel("verbose", level));
}

TEST_CASE("Log: RateLimiter lets one line through per interval and counts the rest", "[common][log]") {
  iot::log::RateLimiter limiter(std::chrono::hours(1));
  long long suppressed = -1;
  REQUIRE(limiter.Allow(suppressed));
  CHECK(suppressed == 0);
  long long ignored = 0;
  CHECK_FALSE(limiter.Allow(ignored));
  CHECK_FALSE(limiter.Allow(ignored));
}

TEST_CASE("Log: ParseFormat accepts logfmt and json only", "[common][log]") {
  iot::log::Format format{};
  CHECK(iot::log::ParseFormat("json", format));
  CHECK(format == iot::log::Format::kJson);
  CHECK(iot::log::ParseFormat("logfmt", format));
  CHECK(format == iot::log::Format::kLogfmt);
  CHECK_FALSE(iot::log::ParseFormat("JSON", format));
  CHECK_FALSE(iot::log::ParseFormat("", format));
}

TEST_CASE("Log: logfmt lines are ts, level, component, then the message as written", "[common][log]") {
  CHECK(iot::log::FormatLine(iot::log::Format::kLogfmt, "2026-01-02T03:04:05.006Z", iot::log::Level::kWarn,
                             "gateway", "MQTT connection lost cause=\"x y\"") ==
        "ts=2026-01-02T03:04:05.006Z level=warn component=gateway MQTT connection lost cause=\"x y\"");
}

TEST_CASE("Log: json lines are one object - free text in msg, fields as members, numbers as numbers",
          "[common][log]") {
  const std::string message =
      "MQTT connected uri=tcp://broker:1883 client_id=" + iot::log::Quote("gw \"1\"\n") +
      " session_present=1 lag=0.25 code=007 share_group=\"\"";
  const std::string line = iot::log::FormatLine(iot::log::Format::kJson, "2026-01-02T03:04:05.006Z",
                                                iot::log::Level::kInfo, "gateway", message);
  CHECK(line.find('\n') == std::string::npos);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["ts"] == "2026-01-02T03:04:05.006Z");
  CHECK(j["level"] == "info");
  CHECK(j["component"] == "gateway");
  CHECK(j["msg"] == "MQTT connected");
  CHECK(j["uri"] == "tcp://broker:1883");
  CHECK(j["client_id"] == "gw \"1\"\n");  // Quote undone
  CHECK(j["session_present"] == 1);
  CHECK(j["lag"] == 0.25);
  CHECK(j["code"] == "007");  // not a JSON number
  CHECK(j["share_group"] == "");
}

TEST_CASE("Log: json lines stay valid JSON for hostile text", "[common][log]") {
  // Invalid UTF-8, control bytes, a field named like a fixed member, an unterminated quote, a bare '='.
  const std::string message = std::string("bad \xff\xfe bytes\x01 msg=shadow level=\"x") + " =alone k=";
  const std::string line =
      iot::log::FormatLine(iot::log::Format::kJson, "t", iot::log::Level::kError, "api\"x", message);
  nlohmann::json j;
  REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
  CHECK(j["level"] == "error");
  CHECK(j["component"] == "api\"x");
  CHECK(j["msg"].get<std::string>().find("bytes") != std::string::npos);
  CHECK(j["msg_"] == "shadow");
  CHECK(j["level_"] == "\"x");
  CHECK(j["k"] == "");
}

TEST_CASE("Log: a message written as msg=\"...\" fields keeps it as msg in json", "[common][log]") {
  const auto j =
      nlohmann::json::parse(iot::log::FormatLine(iot::log::Format::kJson, "t", iot::log::Level::kDebug,
                                                 "broker", "msg=\"registration refused\" reason=x"));
  CHECK(j["msg"] == "registration refused");
  CHECK(j["reason"] == "x");
  CHECK_FALSE(j.contains("msg_"));
}
