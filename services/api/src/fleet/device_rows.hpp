#pragma once

// Devices brought in with their existing credentials: the checks every create path shares (single,
// batch, import), the CSV form of a fleet export (Alibaba's console: DeviceName,DeviceSecret[,...]) and
// the CSV the platform exports. Pure: no I/O.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "http/body_schema.hpp"
#include "http/problem.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/registration.hpp"

namespace iot::api {

inline constexpr std::size_t kMaxNicknameChars = 64;

// DeviceSecret: 16 to 64 letters and digits (Alibaba issues 32).
bool IsValidDeviceSecret(std::string_view text);
// iotId: 8 to 64 letters and digits.
bool IsValidIotId(std::string_view text);

// Schema of one {"deviceName","deviceSecret"?,"nickname"?,"iotId"?} object.
std::shared_ptr<const BodySchema> DeviceRowSchema();

// Appends the problems of one device row (formats and, with `names`, duplicates inside the request) with
// JSON pointers under `pointer`; `row` is a checked DeviceRowSchema object.
store::DeviceCreate DeviceRowFromJson(const nlohmann::json& row, const std::string& pointer,
                                      std::vector<ErrorItem>& problems);
// Every row of a checked {"devices":[...]} array (DeviceRowSchema items), with the problems of each
// (`/devices/{i}/...`) and duplicates inside the request appended to `problems`.
std::vector<store::DeviceCreate> DeviceRowsFromJson(const nlohmann::json& rows,
                                                    std::vector<ErrorItem>& problems);
// JSON pointer of row i of a "devices" array.
std::string DevicesPointer(std::size_t index);

// Checks formats of an already built row ("/deviceName", "/deviceSecret", "/iotId" under `pointer`).
void CheckDeviceRow(const store::DeviceCreate& row, const std::string& pointer,
                    std::vector<ErrorItem>& problems);
// Appends a problem for every name or iotId given twice (pointers `pointer_of(i)`).
void CheckDuplicates(const std::vector<store::DeviceCreate>& rows,
                     const std::function<std::string(std::size_t)>& pointer_of,
                     std::vector<ErrorItem>& problems);

// The CSV of a fleet: a header naming DeviceName and DeviceSecret (any case, any order), optionally
// Nickname, IotId and ProductKey (which must equal `product_key` on every row); other columns are refused;
// an optional UTF-8 BOM; fields may be quoted ("" escapes a quote); CRLF or LF; blank lines skipped.
// Problems point at "/lines/<line number>[/<column>]" (1-based lines of the file).
struct CsvDevices {
  std::vector<store::DeviceCreate> rows;
  std::vector<std::size_t> lines;  // the file line of each row
  std::vector<ErrorItem> problems;
};
CsvDevices ParseDevicesCsv(std::string_view text, std::string_view product_key, std::size_t max_rows);

// DeviceName,DeviceSecret,Nickname,IotId,ProductKey with a header, CRLF line ends, quoted where needed.
// Fields are written as stored (no spreadsheet-formula escaping): the file imports back unchanged.
std::string DevicesCsv(std::string_view product_key, const std::vector<store::DeviceCredentials>& rows);

}  // namespace iot::api
