#include "fleet/device_rows.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using iot::api::ParseDevicesCsv;

namespace {

bool HasPath(const iot::api::CsvDevices& csv, const std::string& path) {
  for (const auto& p : csv.problems) {
    if (p.path == path) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("Device rows: secrets and iotIds are letters and digits of bounded length", "[fleet]") {
  CHECK(iot::api::IsValidDeviceSecret("0123456789abcdef"));
  CHECK(iot::api::IsValidDeviceSecret(std::string(64, 'Z')));
  CHECK_FALSE(iot::api::IsValidDeviceSecret("0123456789abcde"));
  CHECK_FALSE(iot::api::IsValidDeviceSecret(std::string(65, 'a')));
  CHECK_FALSE(iot::api::IsValidDeviceSecret("0123456789abcde-"));
  CHECK_FALSE(iot::api::IsValidDeviceSecret(std::string("0123456789abcdef\0", 17)));
  CHECK(iot::api::IsValidIotId("a1B2c3D4"));
  CHECK_FALSE(iot::api::IsValidIotId("short"));
}

TEST_CASE("Device rows: Alibaba's CSV export parses with BOM, any header case, quotes and CRLF", "[fleet]") {
  auto csv = ParseDevicesCsv(
      "\xEF\xBB\xBF"
      "ProductKey,devicename,DEVICESECRET,Nickname\r\n"
      "pk000001,dev-0001,0123456789abcdef0123456789abcdef,\"a, \"\"quoted\"\" name\"\r\n"
      "\r\n"
      "pk000001,dev-0002,0123456789abcdef0123456789abcdeF,\r\n",
      "pk000001", 10);
  INFO((csv.problems.empty() ? "" : csv.problems.front().path + " " + csv.problems.front().message));
  REQUIRE(csv.problems.empty());
  REQUIRE(csv.rows.size() == 2);
  CHECK(*csv.rows[0].device_name == "dev-0001");
  CHECK(*csv.rows[0].secret == "0123456789abcdef0123456789abcdef");
  CHECK(csv.rows[0].nickname == "a, \"quoted\" name");
  CHECK(csv.lines == std::vector<std::size_t>{2, 4});
  CHECK_FALSE(csv.rows[0].iot_id.has_value());
}

TEST_CASE("Device rows: every problem of a CSV is reported at its line and column", "[fleet]") {
  auto csv = ParseDevicesCsv(
      "DeviceName,DeviceSecret,ProductKey\n"
      "x,short,pk000001\n"
      "dev-0002,0123456789abcdef,other\n"
      "dev-0003,0123456789abcdef\n"
      "dev-0004,0123456789abcdef,pk000001\n"
      "dev-0004,0123456789abcdef,pk000001\n",
      "pk000001", 10);
  CHECK(HasPath(csv, "/lines/2/DeviceName"));
  CHECK(HasPath(csv, "/lines/2/DeviceSecret"));
  CHECK(HasPath(csv, "/lines/3/ProductKey"));
  CHECK(HasPath(csv, "/lines/4"));                   // field count
  CHECK_FALSE(HasPath(csv, "/lines/6/DeviceName"));  // duplicates are checked once the rows are valid

  auto dup = ParseDevicesCsv(
      "DeviceName,DeviceSecret\ndev-0004,0123456789abcdef\ndev-0004,0123456789abcdef\n", "pk000001", 10);
  CHECK(HasPath(dup, "/lines/3/DeviceName"));

  CHECK(HasPath(ParseDevicesCsv("DeviceName,Secret\n", "pk000001", 10), "/lines/1"));
  CHECK(HasPath(ParseDevicesCsv("DeviceName\nabcd\n", "pk000001", 10), "/lines/1"));
  CHECK(HasPath(ParseDevicesCsv("DeviceName,DeviceName,DeviceSecret\n", "pk000001", 10), "/lines/1"));
  CHECK(HasPath(ParseDevicesCsv("", "pk000001", 10), ""));
  CHECK(HasPath(ParseDevicesCsv("DeviceName,DeviceSecret\n", "pk000001", 10), ""));
  CHECK(HasPath(ParseDevicesCsv("DeviceName,DeviceSecret\n\"abcd,0123456789abcdef\n", "pk000001", 10),
                "/lines/2"));
  CHECK(HasPath(ParseDevicesCsv("DeviceName,DeviceSecret\n\"abcd\"x,0123456789abcdef\n", "pk000001", 10),
                "/lines/2"));
  // More rows than allowed: refused at the first row too many, without reading on.
  auto many = ParseDevicesCsv(
      "DeviceName,DeviceSecret\na-01,0123456789abcdef\na-02,0123456789abcdef\n"
      "a-03,0123456789abcdef\n",
      "pk000001", 2);
  CHECK(HasPath(many, "/lines/4"));
  CHECK(many.rows.empty());
}

TEST_CASE("Device rows: the export is CSV that parses back to the same rows", "[fleet]") {
  std::vector<iot::store::DeviceCredentials> rows = {
      {"dev-0001", "0123456789abcdef0123456789abcdef", "comma, \"quote\"\nnewline", "IotId000000000001"},
      {"dev-0002", "0123456789abcdef0123456789abcdeF", "", "IotId000000000002"}};
  const std::string text = iot::api::DevicesCsv("pk000001", rows);
  CHECK(text.rfind("DeviceName,DeviceSecret,Nickname,IotId,ProductKey\r\n", 0) == 0);
  auto back = ParseDevicesCsv(text, "pk000001", 10);
  REQUIRE(back.problems.empty());
  REQUIRE(back.rows.size() == 2);
  CHECK(back.rows[0].nickname == rows[0].nickname);
  CHECK(*back.rows[1].iot_id == "IotId000000000002");
  CHECK(*back.rows[1].secret == rows[1].device_secret);
}
