#include "stream/protocol.hpp"

#include <nlohmann/json.hpp>

#include "iot/common/json.hpp"
#include "iot/common/json_text.hpp"
#include "iot/store/stream.hpp"

namespace iot::api::stream {
namespace {

constexpr std::size_t kMaxKeyLength = 64;

bool ValidProductKey(std::string_view pk) {
  if (pk.empty() || pk.size() > kMaxKeyLength) {
    return false;
  }
  for (char c : pk) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool ValidDeviceName(std::string_view dn) {
  if (dn.empty() || dn.size() > kMaxKeyLength) {
    return false;
  }
  for (char c : dn) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                    c == '_' || c == '@' || c == '.' || c == ':';
    if (!ok) {
      return false;
    }
  }
  return true;
}

void AppendTarget(std::string& out, const Command& c) {
  out += "\"productKey\":";
  AppendJsonString(out, c.product_key);
  if (!c.device_name.empty()) {
    out += ",\"deviceName\":";
    AppendJsonString(out, c.device_name);
  }
}

}  // namespace

std::variant<Command, ProtocolError> ParseClientMessage(std::string_view text) {
  if (text.size() > kMaxClientMessageBytes) {
    return ProtocolError{"message exceeds " + std::to_string(kMaxClientMessageBytes) + " bytes"};
  }
  nlohmann::json doc;
  switch (ParseJson(text, doc)) {
    case JsonParseStatus::kOk: break;
    case JsonParseStatus::kTooDeep: return ProtocolError{JsonTooDeepMessage(), kCloseTooBig};
    case JsonParseStatus::kMalformed: return ProtocolError{"message is not JSON"};
  }
  if (!doc.is_object() || doc.size() != 1) {
    return ProtocolError{R"(expected {"subscribe":{...}} or {"unsubscribe":{...}})"};
  }
  Command command;
  const auto first = doc.begin();
  const std::string& name = first.key();
  const nlohmann::json& body = first.value();
  if (name == "subscribe") {
    command.kind = Command::Kind::kSubscribe;
  } else if (name == "unsubscribe") {
    command.kind = Command::Kind::kUnsubscribe;
  } else {
    return ProtocolError{"unknown command \"" + name.substr(0, 64) +
                         R"(": expected "subscribe" or "unsubscribe")"};
  }
  if (!body.is_object()) {
    return ProtocolError{name + " needs an object {\"productKey\":..., \"deviceName\"?:...}"};
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& value = it.value();
    if (key == "productKey") {
      if (!value.is_string() || !ValidProductKey(value.get_ref<const std::string&>())) {
        return ProtocolError{name + ".productKey must be a string of 1-64 letters and digits"};
      }
      command.product_key = value.get<std::string>();
    } else if (key == "deviceName") {
      if (!value.is_string() || !ValidDeviceName(value.get_ref<const std::string&>())) {
        return ProtocolError{name + ".deviceName must be a string of 1-64 letters, digits and -_@.:"};
      }
      command.device_name = value.get<std::string>();
    } else {
      return ProtocolError{name + ": unknown member \"" + key.substr(0, 64) + "\""};
    }
  }
  if (command.product_key.empty()) {
    return ProtocolError{name + ".productKey is required"};
  }
  return command;
}

std::string ChangeMessage(std::string_view type, std::string_view product_key, std::string_view device_name,
                          std::int64_t time, std::string_view data_json) {
  std::string out;
  out.reserve(64 + product_key.size() + device_name.size() + data_json.size());
  out += "{\"type\":\"";
  out += type;
  out += "\",\"productKey\":";
  AppendJsonString(out, product_key);
  out += ",\"deviceName\":";
  AppendJsonString(out, device_name);
  out += ",\"time\":";
  out += std::to_string(time);
  out += ",\"data\":";
  out += data_json;
  out += '}';
  return out;
}

std::string AnswerMessage(const Command& command) {
  std::string out =
      command.kind == Command::Kind::kSubscribe ? R"({"type":"subscribed",)" : R"({"type":"unsubscribed",)";
  AppendTarget(out, command);
  out += '}';
  return out;
}

std::string ErrorMessage(std::string_view code, std::string_view message, const Command* about) {
  std::string out = R"({"type":"error","error":{"code":)";
  AppendJsonString(out, code);
  out += ",\"message\":";
  AppendJsonString(out, message);
  out += '}';
  if (about != nullptr) {
    out += about->kind == Command::Kind::kSubscribe ? R"(,"request":{"subscribe":{)"
                                                    : R"(,"request":{"unsubscribe":{)";
    AppendTarget(out, *about);
    out += "}}";
  }
  out += '}';
  return out;
}

}  // namespace iot::api::stream
