#include "fleet/device_rows.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "handlers/common.hpp"

namespace iot::api {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool AlnumOfLength(std::string_view text, std::size_t min, std::size_t max) {
  return text.size() >= min && text.size() <= max && std::all_of(text.begin(), text.end(), IsAlnum);
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Counts UTF-8 code points (nickname limits are in characters).
std::size_t Utf8Length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Splits CSV text into records of fields (RFC 4180 quoting). Returns false with `error` and the line of
// the problem on an unterminated quote or text after a closing quote.
struct CsvRecord {
  std::size_t line = 0;
  std::vector<std::string> fields;
};

bool SplitCsv(std::string_view text, std::vector<CsvRecord>& out, std::size_t max_records, std::string& error,
              std::size_t& error_line) {
  std::size_t line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    CsvRecord record;
    record.line = line;
    std::string field;
    bool record_done = false;
    while (!record_done) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        const std::size_t start_line = line;
        bool closed = false;
        while (i < text.size()) {
          char c = text[i++];
          if (c == '"') {
            if (i < text.size() && text[i] == '"') {
              field.push_back('"');
              ++i;
            } else {
              closed = true;
              break;
            }
          } else {
            if (c == '\n') {
              ++line;
            }
            field.push_back(c);
          }
        }
        if (!closed) {
          error = "unterminated quoted field";
          error_line = start_line;
          return false;
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          error = "text after a closing quote";
          error_line = line;
          return false;
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          field.push_back(text[i++]);
        }
      }
      record.fields.push_back(field);
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '\r') {
        ++i;
      }
      if (i < text.size() && text[i] == '\n') {
        ++i;
      }
      ++line;
      record_done = true;
    }
    const bool blank = record.fields.size() == 1 && record.fields[0].empty();
    if (!blank) {
      if (out.size() == max_records) {
        error = "more than " + std::to_string(max_records - 1) + " rows";
        error_line = record.line;
        return false;
      }
      out.push_back(std::move(record));
    }
  }
  return true;
}

std::string Quoted(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(field);
  }
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') {
      out.push_back('"');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

constexpr std::string_view kNameRule = "must be 4 to 32 of letters, digits and -_@.:";
constexpr std::string_view kSecretRule = "must be 16 to 64 letters and digits (Alibaba issues 32)";
constexpr std::string_view kIotIdRule = "must be 8 to 64 letters and digits";

}  // namespace

bool IsValidDeviceSecret(std::string_view text) { return AlnumOfLength(text, 16, 64); }
bool IsValidIotId(std::string_view text) { return AlnumOfLength(text, 8, 64); }

std::shared_ptr<const BodySchema> DeviceRowSchema() {
  static const auto kSchema = std::make_shared<const BodySchema>(
      BodySchema()
          .Required("deviceName", FieldType::kString)
          .Optional("deviceSecret", FieldType::kString)
          .Optional("nickname", FieldType::kString, {.max = static_cast<double>(kMaxNicknameChars)})
          .Optional("iotId", FieldType::kString));
  return kSchema;
}

void CheckDeviceRow(const store::DeviceCreate& row, const std::string& pointer,
                    std::vector<ErrorItem>& problems) {
  if (row.device_name && !IsValidDeviceName(*row.device_name)) {
    problems.push_back({pointer + "/deviceName", 0, std::string(kNameRule)});
  }
  if (row.secret && !IsValidDeviceSecret(*row.secret)) {
    problems.push_back({pointer + "/deviceSecret", 0, std::string(kSecretRule)});
  }
  if (row.iot_id && !IsValidIotId(*row.iot_id)) {
    problems.push_back({pointer + "/iotId", 0, std::string(kIotIdRule)});
  }
  if (Utf8Length(row.nickname) > kMaxNicknameChars) {
    problems.push_back({pointer + "/nickname", 0, "must be at most 64 characters"});
  }
}

store::DeviceCreate DeviceRowFromJson(const nlohmann::json& row, const std::string& pointer,
                                      std::vector<ErrorItem>& problems) {
  store::DeviceCreate out;
  out.device_name = row.at("deviceName").get<std::string>();
  if (row.contains("deviceSecret")) {
    out.secret = row["deviceSecret"].get<std::string>();
  }
  if (row.contains("iotId")) {
    out.iot_id = row["iotId"].get<std::string>();
  }
  out.nickname = row.value("nickname", std::string());
  CheckDeviceRow(out, pointer, problems);
  return out;
}

std::string DevicesPointer(std::size_t index) { return "/devices/" + std::to_string(index); }

std::vector<store::DeviceCreate> DeviceRowsFromJson(const nlohmann::json& rows,
                                                    std::vector<ErrorItem>& problems) {
  std::vector<store::DeviceCreate> out;
  out.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back(DeviceRowFromJson(rows[i], DevicesPointer(i), problems));
  }
  CheckDuplicates(out, DevicesPointer, problems);
  return out;
}

void CheckDuplicates(const std::vector<store::DeviceCreate>& rows,
                     const std::function<std::string(std::size_t)>& pointer_of,
                     std::vector<ErrorItem>& problems) {
  std::map<std::string, std::size_t> names;
  std::map<std::string, std::size_t> ids;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].device_name) {
      auto [it, fresh] = names.emplace(*rows[i].device_name, i);
      if (!fresh) {
        problems.push_back(
            {pointer_of(i) + "/deviceName", 0,
             "duplicate deviceName " + it->first + " (also at " + pointer_of(it->second) + ")"});
      }
    }
    if (rows[i].iot_id) {
      auto [it, fresh] = ids.emplace(*rows[i].iot_id, i);
      if (!fresh) {
        problems.push_back({pointer_of(i) + "/iotId", 0,
                            "duplicate iotId " + it->first + " (also at " + pointer_of(it->second) + ")"});
      }
    }
  }
}

CsvDevices ParseDevicesCsv(std::string_view text, std::string_view product_key, std::size_t max_rows) {
  CsvDevices out;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    text.remove_prefix(3);
  }
  std::vector<CsvRecord> records;
  std::string error;
  std::size_t error_line = 0;
  if (!SplitCsv(text, records, max_rows + 1, error, error_line)) {
    out.problems.push_back({"/lines/" + std::to_string(error_line), 0, error});
    return out;
  }
  if (records.empty()) {
    out.problems.push_back({"", 0, "empty CSV: expected a header DeviceName,DeviceSecret[,Nickname]"});
    return out;
  }
  // Header: column index of each known name.
  enum Column { kName, kSecret, kNickname, kIotId, kProductKey, kColumns };
  static const std::map<std::string, Column> kKnown = {{"devicename", kName},
                                                       {"devicesecret", kSecret},
                                                       {"nickname", kNickname},
                                                       {"iotid", kIotId},
                                                       {"productkey", kProductKey}};
  static const std::array<std::string_view, kColumns> kLabel = {"DeviceName", "DeviceSecret", "Nickname",
                                                                "IotId", "ProductKey"};
  std::array<int, kColumns> index;
  index.fill(-1);
  const auto& header = records.front();
  for (std::size_t c = 0; c < header.fields.size(); ++c) {
    std::string name = Lower(header.fields[c]);
    while (!name.empty() && name.back() == ' ') {
      name.pop_back();
    }
    while (!name.empty() && name.front() == ' ') {
      name.erase(name.begin());
    }
    auto it = kKnown.find(name);
    const std::string pointer = "/lines/" + std::to_string(header.line);
    if (it == kKnown.end()) {
      const std::string& shown = header.fields[c];  // hostile headers are not echoed in full
      out.problems.push_back({pointer, 0,
                              "unknown column \"" +
                                  (shown.size() > 64 ? shown.substr(0, 64) + "..." : shown) +
                                  "\": expected DeviceName, DeviceSecret, Nickname, IotId, ProductKey"});
    } else if (index[it->second] >= 0) {
      out.problems.push_back({pointer, 0, "column " + std::string(kLabel[it->second]) + " given twice"});
    } else {
      index[it->second] = static_cast<int>(c);
    }
  }
  for (Column required : {kName, kSecret}) {
    if (index[required] < 0) {
      out.problems.push_back({"/lines/" + std::to_string(header.line), 0,
                              "the header has no " + std::string(kLabel[required]) + " column"});
    }
  }
  if (!out.problems.empty()) {
    return out;
  }
  if (records.size() == 1) {
    out.problems.push_back({"", 0, "no device rows after the header"});
    return out;
  }
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& record = records[r];
    const std::string pointer = "/lines/" + std::to_string(record.line);
    if (record.fields.size() != header.fields.size()) {
      out.problems.push_back({pointer, 0,
                              std::to_string(record.fields.size()) + " fields, the header has " +
                                  std::to_string(header.fields.size())});
      continue;
    }
    auto field = [&](Column c) -> const std::string& {
      return record.fields[static_cast<std::size_t>(index[c])];
    };
    store::DeviceCreate row;
    row.device_name = field(kName);
    row.secret = field(kSecret);
    if (index[kNickname] >= 0) {
      row.nickname = field(kNickname);
    }
    if (index[kIotId] >= 0 && !field(kIotId).empty()) {
      row.iot_id = field(kIotId);
    }
    std::vector<ErrorItem> row_problems;
    CheckDeviceRow(row, pointer, row_problems);
    if (index[kProductKey] >= 0 && field(kProductKey) != product_key) {
      row_problems.push_back({pointer + "/productKey", 0,
                              "ProductKey " + field(kProductKey).substr(0, 64) + " is not this product (" +
                                  std::string(product_key) + ")"});
    }
    for (auto& problem : row_problems) {
      out.problems.push_back(std::move(problem));
    }
    out.rows.push_back(std::move(row));
    out.lines.push_back(record.line);
  }
  if (out.problems.empty()) {
    CheckDuplicates(
        out.rows, [&](std::size_t i) { return "/lines/" + std::to_string(out.lines[i]); }, out.problems);
  }
  // CSV pointers name the column as the file's header does.
  static const std::array<std::pair<std::string_view, std::string_view>, kColumns> kRenames = {
      {{"/deviceName", "/DeviceName"},
       {"/deviceSecret", "/DeviceSecret"},
       {"/nickname", "/Nickname"},
       {"/iotId", "/IotId"},
       {"/productKey", "/ProductKey"}}};
  for (auto& problem : out.problems) {
    for (const auto& [json_name, label] : kRenames) {
      if (problem.path.ends_with(json_name)) {
        problem.path.replace(problem.path.size() - json_name.size(), json_name.size(), label);
        break;
      }
    }
  }
  return out;
}

std::string DevicesCsv(std::string_view product_key, const std::vector<store::DeviceCredentials>& rows) {
  std::string out = "DeviceName,DeviceSecret,Nickname,IotId,ProductKey\r\n";
  out.reserve(rows.size() * 96 + out.size());
  const std::string pk = Quoted(product_key);
  for (const auto& row : rows) {
    out += Quoted(row.device_name);
    out += ',';
    out += Quoted(row.device_secret);
    out += ',';
    out += Quoted(row.nickname);
    out += ',';
    out += Quoted(row.iot_id);
    out += ',';
    out += pk;
    out += "\r\n";
  }
  return out;
}

}  // namespace iot::api
