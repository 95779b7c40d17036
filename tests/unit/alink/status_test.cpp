#include "iot/alink/status.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"

namespace alink = iot::alink;

TEST_CASE("Status: encodes the Aliyun lifecycle fields plus seq", "[alink][status]") {
  alink::StatusMessage m;
  m.status = alink::DeviceStatus::kOnline;
  m.product_key = "a1b2c3d4e5f";
  m.device_name = "dev01";
  m.time_ms = 1535700748205;  // 2018-08-31T07:32:28.205Z
  m.last_time_ms = 1535700748195;
  m.client_ip = "123.123.123.123";
  m.seq = 42;
  m.utc_offset_minutes = 480;
  const auto text = alink::EncodeStatus(m);
  const auto j = nlohmann::json::parse(text);
  CHECK(j["status"] == "online");
  CHECK(j["productKey"] == "a1b2c3d4e5f");
  CHECK(j["deviceName"] == "dev01");
  CHECK(j["time"] == "2018-08-31 15:32:28.205");
  CHECK(j["utcTime"] == "2018-08-31T07:32:28.205Z");
  CHECK(j["lastTime"] == "2018-08-31 15:32:28.195");
  CHECK(j["utcLastTime"] == "2018-08-31T07:32:28.195Z");
  CHECK(j["clientIp"] == "123.123.123.123");
  CHECK(j["seq"] == 42);
  CHECK_FALSE(j.contains("iotId"));

  auto back = alink::DecodeStatus(text);
  REQUIRE(back.has_value());
  CHECK(*back == m);
}

TEST_CASE("Status: decodes an Aliyun message without seq", "[alink][status]") {
  const std::string aliyun =
      R"({"status":"offline","iotId":"4z819VQHk6VSLmmBJfrf00107e****","productKey":"al12345****",)"
      R"("deviceName":"deviceName1234","time":"2018-08-31 15:32:28.205","utcTime":"2018-08-31T07:32:28.205Z",)"
      R"("lastTime":"2018-08-31 15:32:28.195","utcLastTime":"2018-08-31T07:32:28.195Z","clientIp":"123.123.123.123"})";
  auto m = alink::DecodeStatus(aliyun);
  REQUIRE(m.has_value());
  CHECK(m->status == alink::DeviceStatus::kOffline);
  CHECK(m->iot_id == "4z819VQHk6VSLmmBJfrf00107e****");
  CHECK(m->last_time_ms == 1535700748195);
  CHECK(m->time_ms == 1535700748205);
  CHECK(m->utc_offset_minutes == 480);
  CHECK(m->seq == 0);
}

TEST_CASE("Status: malformed messages are errors", "[alink][status]") {
  for (
      const auto* bad :
      {"", "[]", R"({"status":"online"})",
       R"({"status":"away","productKey":"p","deviceName":"d","utcLastTime":"2018-08-31T07:32:28.195Z"})",
       R"({"status":"online","productKey":"p","deviceName":"d","utcLastTime":"yesterday"})",
       R"({"status":"online","productKey":"p","deviceName":"d","utcLastTime":"2018-13-31T07:32:28.195Z"})",
       R"({"status":"online","productKey":"p","deviceName":"d","utcLastTime":"2018-08-31T07:32:28.195Z","seq":-1})",
       R"({"status":"online","productKey":1,"deviceName":"d","utcLastTime":"2018-08-31T07:32:28.195Z"})"}) {
    INFO(bad);
    CHECK_FALSE(alink::DecodeStatus(bad).has_value());
  }
}

TEST_CASE("Status: time formatting covers epoch edges", "[alink][status]") {
  CHECK(alink::FormatUtcTime(0) == "1970-01-01T00:00:00.000Z");
  CHECK(alink::FormatUtcTime(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(alink::FormatLocalTime(0, 480) == "1970-01-01 08:00:00.000");
  CHECK(alink::FormatUtcTime(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(alink::FormatUtcTime(INT64_MAX) == "9999-12-31T23:59:59.999Z");
  CHECK(alink::FormatUtcTime(INT64_MIN) == "0000-01-01T00:00:00.000Z");
  CHECK(*alink::ParseTimestamp("2000-02-29T00:00:00.000Z") == 951782400000);
  CHECK(*alink::ParseTimestamp("1969-12-31 23:59:59.999") == -1);
}
