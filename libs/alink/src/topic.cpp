#include "iot/alink/topic.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>

#include "iot/alink/error.hpp"
#include "iot/alink/session.hpp"

namespace iot::alink {
namespace {

constexpr std::string_view kReplySuffix = "_reply";

// Fixed /sys/{pk}/{dn}/<path> topics and their methods (empty: none). Event and service topics
// carry an identifier and are handled separately.
struct SysEntry {
  TopicKind kind;
  std::string_view path;
  std::string_view method;
};

constexpr std::array kSysTable{
    SysEntry{TopicKind::kPropertyPost, "thing/event/property/post", "thing.event.property.post"},
    SysEntry{TopicKind::kPropertySet, "thing/service/property/set", "thing.service.property.set"},
    SysEntry{TopicKind::kPropertyGet, "thing/service/property/get", "thing.service.property.get"},
    SysEntry{TopicKind::kPropertyHistoryPost, "thing/event/property/history/post",
             "thing.event.property.history.post"},
    SysEntry{TopicKind::kPropertyPackPost, "thing/event/property/pack/post",
             "thing.event.property.pack.post"},
    SysEntry{TopicKind::kPropertyBatchPost, "thing/event/property/batch/post",
             "thing.event.property.batch.post"},
    SysEntry{TopicKind::kDesiredGet, "thing/property/desired/get", "thing.property.desired.get"},
    SysEntry{TopicKind::kDesiredDelete, "thing/property/desired/delete", "thing.property.desired.delete"},
    SysEntry{TopicKind::kDeviceInfoUpdate, "thing/deviceinfo/update", "thing.deviceinfo.update"},
    SysEntry{TopicKind::kDeviceInfoDelete, "thing/deviceinfo/delete", "thing.deviceinfo.delete"},
    SysEntry{TopicKind::kConfigGet, "thing/config/get", "thing.config.get"},
    SysEntry{TopicKind::kConfigPush, "thing/config/push", "thing.config.push"},
    SysEntry{TopicKind::kDslTemplateGet, "thing/dsltemplate/get", "thing.dsltemplate.get"},
    SysEntry{TopicKind::kDynamicTslGet, "thing/dynamicTsl/get", "thing.dynamicTsl.get"},
    SysEntry{TopicKind::kLogPost, "thing/log/post", "thing.log.post"},
    SysEntry{TopicKind::kOtaFirmwareGet, "thing/ota/firmware/get", "thing.ota.firmware.get"},
    SysEntry{TopicKind::kSubRegister, "thing/sub/register", "thing.sub.register"},
    SysEntry{TopicKind::kSubUnregister, "thing/sub/unregister", "thing.sub.unregister"},
    SysEntry{TopicKind::kTopoAdd, "thing/topo/add", "thing.topo.add"},
    SysEntry{TopicKind::kTopoDelete, "thing/topo/delete", "thing.topo.delete"},
    SysEntry{TopicKind::kTopoGet, "thing/topo/get", "thing.topo.get"},
    SysEntry{TopicKind::kListFound, "thing/list/found", "thing.list.found"},
    // The reference lists no method for these three; SDKs differ, so they are not checked.
    SysEntry{TopicKind::kTopoAddNotify, "thing/topo/add/notify", ""},
    SysEntry{TopicKind::kTopoChange, "thing/topo/change", ""},
    SysEntry{TopicKind::kDiagPost, "_thing/diag/post", ""},
    SysEntry{TopicKind::kDisable, "thing/disable", "thing.disable"},
    SysEntry{TopicKind::kEnable, "thing/enable", "thing.enable"},
    SysEntry{TopicKind::kDelete, "thing/delete", "thing.delete"},
    SysEntry{TopicKind::kModelUpRaw, "thing/model/up_raw", ""},
    SysEntry{TopicKind::kModelDownRaw, "thing/model/down_raw", ""},
};

struct NamedKind {
  TopicKind kind;
  std::string_view name;
};

constexpr std::array kSessionTable{
    NamedKind{TopicKind::kSessionLogin, "login"},
    NamedKind{TopicKind::kSessionLogout, "logout"},
    NamedKind{TopicKind::kSessionBatchLogin, "batch_login"},
    NamedKind{TopicKind::kSessionBatchLogout, "batch_logout"},
};

constexpr std::array kOtaTable{
    NamedKind{TopicKind::kOtaInform, "inform"},
    NamedKind{TopicKind::kOtaUpgrade, "upgrade"},
    NamedKind{TopicKind::kOtaProgress, "progress"},
    NamedKind{TopicKind::kOtaRequest, "request"},
};

constexpr std::array kShadowTable{
    NamedKind{TopicKind::kShadowUpdate, "update"},
    NamedKind{TopicKind::kShadowGet, "get"},
};

template <std::size_t N>
std::optional<TopicKind> FindByName(const std::array<NamedKind, N>& table, std::string_view name) {
  for (const auto& e : table) {
    if (e.name == name) {
      return e.kind;
    }
  }
  return std::nullopt;
}

template <std::size_t N>
std::string_view NameOf(const std::array<NamedKind, N>& table, TopicKind kind) {
  for (const auto& e : table) {
    if (e.kind == kind) {
      return e.name;
    }
  }
  return {};
}

const SysEntry* FindSysPath(std::string_view path) {
  for (const auto& e : kSysTable) {
    if (e.path == path) {
      return &e;
    }
  }
  return nullptr;
}

const SysEntry* FindSysKind(TopicKind kind) {
  for (const auto& e : kSysTable) {
    if (e.kind == kind) {
      return &e;
    }
  }
  return nullptr;
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool IsSysThingKind(TopicKind kind) {
  return kind <= TopicKind::kSysUnknown;  // enum order: all /sys thing kinds come first
}

bool IsSessionKind(TopicKind kind) {
  return kind >= TopicKind::kSessionLogin && kind <= TopicKind::kSessionBatchLogout;
}

// Cuts the next '/'-separated level off `rest`. Returns false when `rest` was already exhausted.
bool IsReservedIdentifier(std::string_view id) {
  return id == "set" || id == "get" || id == "post" || id == "property" || id == "event" || id == "time" ||
         id == "value";
}

bool StripReply(std::string_view& path) {
  if (path.size() > kReplySuffix.size() && path.ends_with(kReplySuffix)) {
    path.remove_suffix(kReplySuffix.size());
    return true;
  }
  return false;
}

Result<Topic> ParseSys(std::string_view pk, std::string_view dn, std::string_view rest) {
  Topic t;
  t.product_key = pk;
  t.device_name = dn;
  if (rest.starts_with("rrpc/request/") || rest.starts_with("rrpc/response/")) {
    const bool request = rest[5] == 'r' && rest[6] == 'e' && rest[7] == 'q';
    const auto id = rest.substr(request ? 13 : 14);
    if (!IsValidMessageId(id)) {
      return Errc::kInvalidTopicSegment;
    }
    t.kind = request ? TopicKind::kRrpcRequest : TopicKind::kRrpcResponse;
    t.message_id = id;
    return t;
  }
  std::string_view path = rest;
  t.reply = StripReply(path);
  if (const auto* e = FindSysPath(path)) {
    t.kind = e->kind;
    return t;
  }
  constexpr std::string_view kEvent = "thing/event/";
  constexpr std::string_view kPost = "/post";
  constexpr std::string_view kService = "thing/service/";
  if (path.starts_with(kEvent) && path.ends_with(kPost) && path.size() > kEvent.size() + kPost.size()) {
    const auto id = path.substr(kEvent.size(), path.size() - kEvent.size() - kPost.size());
    if (IsValidIdentifier(id) && !IsReservedIdentifier(id)) {
      t.kind = TopicKind::kEventPost;
      t.identifier = id;
      return t;
    }
  } else if (path.starts_with(kService)) {
    const auto id = path.substr(kService.size());
    if (IsValidIdentifier(id) && !IsReservedIdentifier(id)) {
      t.kind = TopicKind::kServiceCall;
      t.identifier = id;
      return t;
    }
  }
  t.kind = TopicKind::kSysUnknown;
  t.suffix = path;
  return t;
}

// Parses "{pk}/{dn}" followed by nothing more.
bool TakeDevice(TopicLevels& levels, Topic& t) {
  std::string_view pk;
  std::string_view dn;
  if (!levels.Next(pk) || !levels.Next(dn) || !levels.Done()) {
    return false;
  }
  t.product_key = pk;
  t.device_name = dn;
  return true;
}

Result<Topic> DeviceSegmentsChecked(Topic t) {
  if (!IsValidProductKey(t.product_key) || !IsValidDeviceName(t.device_name)) {
    return Errc::kInvalidTopicSegment;
  }
  return t;
}

Result<Topic> ParseImpl(std::string_view topic, bool allow_ext_rrpc);

Result<Topic> ParseExt(TopicLevels& levels, bool allow_ext_rrpc) {
  std::string_view area;
  if (!levels.Next(area)) {
    return Errc::kTopicNotRecognized;
  }
  Topic t;
  if (area == "register" || area == "regnwl") {
    if (!levels.Done()) {
      return Errc::kTopicNotRecognized;
    }
    t.kind = area == "register" ? TopicKind::kExtRegister : TopicKind::kExtRegisterNwl;
    return t;
  }
  if (area == "error") {
    t.kind = TopicKind::kExtError;
    if (!TakeDevice(levels, t)) {
      return Errc::kTopicNotRecognized;
    }
    return DeviceSegmentsChecked(std::move(t));
  }
  if (area == "rrpc" && allow_ext_rrpc) {
    std::string_view id;
    if (!levels.Next(id) || levels.Done() || levels.Rest().empty()) {
      return Errc::kTopicNotRecognized;
    }
    if (!IsValidMessageId(id)) {
      return Errc::kInvalidTopicSegment;
    }
    t.kind = TopicKind::kExtRrpc;
    t.message_id = id;
    t.suffix = levels.Rest();
    // The inner topic is usually written without its leading '/' (C SDK: /ext/rrpc/{id}/sys/...),
    // sometimes with it (Go SDK: /ext/rrpc/{id}//a/b). Learn the device from it when we can.
    const std::string inner = t.suffix.front() == '/' ? t.suffix : "/" + t.suffix;
    if (auto parsed = ParseImpl(inner, /*allow_ext_rrpc=*/false)) {
      t.product_key = std::move(parsed->product_key);
      t.device_name = std::move(parsed->device_name);
    }
    return t;
  }
  if (area != "ntp" && area != "session") {
    return Errc::kTopicNotRecognized;
  }
  std::string_view pk;
  std::string_view dn;
  std::string_view op;
  if (!levels.Next(pk) || !levels.Next(dn) || !levels.Next(op)) {
    return Errc::kTopicNotRecognized;
  }
  t.product_key = pk;
  t.device_name = dn;
  if (area == "ntp") {
    if (!levels.Done() || (op != "request" && op != "response")) {
      return Errc::kTopicNotRecognized;
    }
    t.kind = op == "request" ? TopicKind::kNtpRequest : TopicKind::kNtpResponse;
    return DeviceSegmentsChecked(std::move(t));
  }
  std::string_view name;
  if (op != "combine" || !levels.Next(name) || !levels.Done()) {
    return Errc::kTopicNotRecognized;
  }
  t.reply = StripReply(name);
  const auto kind = FindByName(kSessionTable, name);
  if (!kind) {
    return Errc::kTopicNotRecognized;
  }
  t.kind = *kind;
  return DeviceSegmentsChecked(std::move(t));
}

Result<Topic> ParseImpl(std::string_view topic, bool allow_ext_rrpc) {
  if (topic.empty() || topic.size() > kMaxTopicBytes || topic.front() != '/' ||
      topic.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos ||
      static_cast<std::size_t>(std::count(topic.begin(), topic.end(), '/')) >= kMaxTopicLevels) {
    return Errc::kTopicNotRecognized;  // the level bound keeps parse and ACL in agreement
  }
  TopicLevels levels(topic.substr(1));
  std::string_view first;
  levels.Next(first);
  if (first == "sys") {
    std::string_view pk;
    std::string_view dn;
    if (!levels.Next(pk) || !levels.Next(dn) || levels.Done() || levels.Rest().empty()) {
      return Errc::kTopicNotRecognized;
    }
    if (!IsValidProductKey(pk) || !IsValidDeviceName(dn)) {
      return Errc::kInvalidTopicSegment;
    }
    return ParseSys(pk, dn, levels.Rest());
  }
  if (first == "ext") {
    return ParseExt(levels, allow_ext_rrpc);
  }
  Topic t;
  std::string_view op;
  if (first == "shadow" || (first == "ota")) {
    if (first == "ota") {
      std::string_view device;
      if (!levels.Next(device) || device != "device") {
        return Errc::kTopicNotRecognized;
      }
    }
    if (!levels.Next(op)) {
      return Errc::kTopicNotRecognized;
    }
    const auto kind = first == "ota" ? FindByName(kOtaTable, op) : FindByName(kShadowTable, op);
    if (!kind || !TakeDevice(levels, t)) {
      return Errc::kTopicNotRecognized;
    }
    t.kind = *kind;
    return DeviceSegmentsChecked(std::move(t));
  }
  if (first == "as") {
    std::string_view mqtt;
    if (!levels.Next(mqtt) || mqtt != "mqtt" || !levels.Next(op) || op != "status" ||
        !TakeDevice(levels, t)) {
      return Errc::kTopicNotRecognized;
    }
    t.kind = TopicKind::kMqttStatus;
    return DeviceSegmentsChecked(std::move(t));
  }
  // /{pk}/{dn}/user/{suffix...}
  std::string_view dn;
  std::string_view user;
  if (!levels.Next(dn) || !levels.Next(user) || user != "user" || levels.Done() || levels.Rest().empty()) {
    return Errc::kTopicNotRecognized;
  }
  t.kind = TopicKind::kUserTopic;
  t.product_key = first;
  t.device_name = dn;
  t.suffix = levels.Rest();
  return DeviceSegmentsChecked(std::move(t));
}

void AppendDevice(std::string& out, std::string_view prefix, const Topic& t) {
  out += prefix;
  out += t.product_key;
  out += '/';
  out += t.device_name;
}

// ---- ACL ----------------------------------------------------------------------------------------

// One level of a device topic-space pattern.
enum class Slot { kLiteral, kAnyLevel, kTail };

struct PatternLevel {
  Slot slot;
  std::string_view literal;  // kLiteral only
};

// Splits a topic filter into levels; false when the filter is malformed.
template <std::size_t N>
bool SplitFilter(std::string_view filter, std::array<std::string_view, N>& out, std::size_t& count) {
  count = 0;
  TopicLevels levels(filter);
  std::string_view level;
  while (levels.Next(level)) {
    if (count == N) {
      return false;
    }
    const bool has_hash = level.find('#') != std::string_view::npos;
    const bool has_plus = level.find('+') != std::string_view::npos;
    if ((has_hash && (level.size() != 1 || !levels.Done())) || (has_plus && level.size() != 1)) {
      return false;
    }
    out[count++] = level;
  }
  return true;
}

bool MatchesSpace(const std::string_view* levels, std::size_t count,
                  std::initializer_list<PatternLevel> pattern) {
  std::size_t i = 0;
  for (const auto& p : pattern) {
    if (p.slot == Slot::kTail) {
      return i < count;  // at least one more level (or a trailing '#'); any wildcards allowed
    }
    if (i >= count || levels[i] == "#") {
      return false;
    }
    if (p.slot == Slot::kLiteral && levels[i] != p.literal) {
      return false;  // also refuses '+' where the space needs a fixed level
    }
    ++i;
  }
  return i == count;
}

bool InDeviceSpace(const std::string_view* lv, std::size_t n, std::string_view pk, std::string_view dn,
                   bool allow_ext_rrpc) {
  using P = PatternLevel;
  const P any{Slot::kAnyLevel, {}};
  const P tail{Slot::kTail, {}};
  const P root{Slot::kLiteral, ""};
  const P ppk{Slot::kLiteral, pk};
  const P pdn{Slot::kLiteral, dn};
  if (n < 2 || lv[0] != "") {
    return false;
  }
  const auto first = lv[1];
  if (first == "sys") {
    return MatchesSpace(lv, n, {root, {Slot::kLiteral, "sys"}, ppk, pdn, tail});
  }
  if (first == "ext") {
    const P ext{Slot::kLiteral, "ext"};
    if (n >= 3 && lv[2] == "rrpc" && allow_ext_rrpc) {
      // /ext/rrpc/{id or +}/<inner>, inner with or without its own leading '/'.
      if (n < 5 || lv[3] == "#") {
        return false;
      }
      if (lv[4] == "") {
        return InDeviceSpace(lv + 4, n - 4, pk, dn, false);
      }
      // Re-root the inner levels: the slot before them (the message id) stands in for "".
      std::array<std::string_view, kMaxTopicLevels> inner{};
      if (n - 3 > inner.size()) {
        return false;
      }
      inner[0] = "";
      for (std::size_t i = 4; i < n; ++i) {
        inner[i - 3] = lv[i];
      }
      return InDeviceSpace(inner.data(), n - 3, pk, dn, false);
    }
    return MatchesSpace(lv, n, {root, ext, {Slot::kLiteral, "ntp"}, ppk, pdn, tail}) ||
           MatchesSpace(lv, n, {root, ext, {Slot::kLiteral, "session"}, ppk, pdn, tail}) ||
           MatchesSpace(lv, n, {root, ext, {Slot::kLiteral, "error"}, ppk, pdn});
  }
  if (first == "shadow") {
    return MatchesSpace(lv, n, {root, {Slot::kLiteral, "shadow"}, any, ppk, pdn});
  }
  if (first == "ota") {
    return MatchesSpace(lv, n, {root, {Slot::kLiteral, "ota"}, {Slot::kLiteral, "device"}, any, ppk, pdn});
  }
  return MatchesSpace(lv, n, {root, ppk, pdn, {Slot::kLiteral, "user"}, tail});
}

}  // namespace

bool IsValidProductKey(std::string_view pk) noexcept {
  if (pk.size() < 4 || pk.size() > 32) {
    return false;
  }
  for (const char c : pk) {
    if (!IsAlnum(c)) {
      return false;
    }
  }
  return true;
}

bool IsValidDeviceName(std::string_view dn) noexcept {
  if (dn.size() < 4 || dn.size() > 32) {
    return false;
  }
  for (const char c : dn) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '@' && c != '.' && c != ':') {
      return false;
    }
  }
  return true;
}

bool IsValidIdentifier(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128 || id.front() == ':' || id.back() == ':') {
    return false;
  }
  for (const char c : id) {
    if (!IsAlnum(c) && c != '_' && c != ':') {
      return false;
    }
  }
  return true;
}

bool IsValidMessageId(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (const char c : id) {
    if (!IsAlnum(c) && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

Result<Topic> ParseTopic(std::string_view topic) { return ParseImpl(topic, true); }

std::string FormatTopic(const Topic& t) {
  std::string out;
  out.reserve(24 + t.product_key.size() + t.device_name.size() + t.identifier.size() + t.message_id.size() +
              t.suffix.size() + 16);
  const auto kind = t.kind;
  if (IsSysThingKind(kind) || kind == TopicKind::kRrpcRequest || kind == TopicKind::kRrpcResponse) {
    AppendDevice(out, "/sys/", t);
    out += '/';
    switch (kind) {
      case TopicKind::kEventPost:
        out += "thing/event/";
        out += t.identifier;
        out += "/post";
        break;
      case TopicKind::kServiceCall:
        out += "thing/service/";
        out += t.identifier;
        break;
      case TopicKind::kSysUnknown: out += t.suffix; break;
      case TopicKind::kRrpcRequest:
        out += "rrpc/request/";
        out += t.message_id;
        return out;
      case TopicKind::kRrpcResponse:
        out += "rrpc/response/";
        out += t.message_id;
        return out;
      default: out += FindSysKind(kind)->path; break;
    }
    if (t.reply) {
      out += kReplySuffix;
    }
    return out;
  }
  if (IsSessionKind(kind)) {
    AppendDevice(out, "/ext/session/", t);
    out += "/combine/";
    out += NameOf(kSessionTable, kind);
    if (t.reply) {
      out += kReplySuffix;
    }
    return out;
  }
  switch (kind) {
    case TopicKind::kNtpRequest:
      AppendDevice(out, "/ext/ntp/", t);
      out += "/request";
      break;
    case TopicKind::kNtpResponse:
      AppendDevice(out, "/ext/ntp/", t);
      out += "/response";
      break;
    case TopicKind::kExtError: AppendDevice(out, "/ext/error/", t); break;
    case TopicKind::kExtRrpc:
      out += "/ext/rrpc/";
      out += t.message_id;
      out += '/';
      out += t.suffix;
      break;
    case TopicKind::kExtRegister: out += "/ext/register"; break;
    case TopicKind::kExtRegisterNwl: out += "/ext/regnwl"; break;
    case TopicKind::kShadowUpdate:
    case TopicKind::kShadowGet:
      out += "/shadow/";
      out += NameOf(kShadowTable, kind);
      AppendDevice(out, "/", t);
      break;
    case TopicKind::kOtaInform:
    case TopicKind::kOtaUpgrade:
    case TopicKind::kOtaProgress:
    case TopicKind::kOtaRequest:
      out += "/ota/device/";
      out += NameOf(kOtaTable, kind);
      AppendDevice(out, "/", t);
      break;
    case TopicKind::kMqttStatus: AppendDevice(out, "/as/mqtt/status/", t); break;
    case TopicKind::kUserTopic:
      AppendDevice(out, "/", t);
      out += "/user/";
      out += t.suffix;
      break;
    default: break;
  }
  return out;
}

std::string_view TopicKindName(TopicKind kind) noexcept {
  switch (kind) {
    case TopicKind::kPropertyPost: return "property_post";
    case TopicKind::kEventPost: return "event_post";
    case TopicKind::kPropertySet: return "property_set";
    case TopicKind::kPropertyGet: return "property_get";
    case TopicKind::kServiceCall: return "service_call";
    case TopicKind::kPropertyHistoryPost: return "property_history_post";
    case TopicKind::kPropertyPackPost: return "property_pack_post";
    case TopicKind::kPropertyBatchPost: return "property_batch_post";
    case TopicKind::kDesiredGet: return "desired_get";
    case TopicKind::kDesiredDelete: return "desired_delete";
    case TopicKind::kDeviceInfoUpdate: return "deviceinfo_update";
    case TopicKind::kDeviceInfoDelete: return "deviceinfo_delete";
    case TopicKind::kConfigGet: return "config_get";
    case TopicKind::kConfigPush: return "config_push";
    case TopicKind::kDslTemplateGet: return "dsltemplate_get";
    case TopicKind::kDynamicTslGet: return "dynamic_tsl_get";
    case TopicKind::kLogPost: return "log_post";
    case TopicKind::kOtaFirmwareGet: return "ota_firmware_get";
    case TopicKind::kSubRegister: return "sub_register";
    case TopicKind::kSubUnregister: return "sub_unregister";
    case TopicKind::kTopoAdd: return "topo_add";
    case TopicKind::kTopoDelete: return "topo_delete";
    case TopicKind::kTopoGet: return "topo_get";
    case TopicKind::kListFound: return "list_found";
    case TopicKind::kTopoAddNotify: return "topo_add_notify";
    case TopicKind::kTopoChange: return "topo_change";
    case TopicKind::kDisable: return "disable";
    case TopicKind::kEnable: return "enable";
    case TopicKind::kDelete: return "delete";
    case TopicKind::kModelUpRaw: return "model_up_raw";
    case TopicKind::kModelDownRaw: return "model_down_raw";
    case TopicKind::kDiagPost: return "diag_post";
    case TopicKind::kSysUnknown: return "sys_unknown";
    case TopicKind::kRrpcRequest: return "rrpc_request";
    case TopicKind::kRrpcResponse: return "rrpc_response";
    case TopicKind::kNtpRequest: return "ntp_request";
    case TopicKind::kNtpResponse: return "ntp_response";
    case TopicKind::kSessionLogin: return "session_login";
    case TopicKind::kSessionLogout: return "session_logout";
    case TopicKind::kSessionBatchLogin: return "session_batch_login";
    case TopicKind::kSessionBatchLogout: return "session_batch_logout";
    case TopicKind::kExtError: return "ext_error";
    case TopicKind::kExtRrpc: return "ext_rrpc";
    case TopicKind::kExtRegister: return "ext_register";
    case TopicKind::kExtRegisterNwl: return "ext_regnwl";
    case TopicKind::kShadowUpdate: return "shadow_update";
    case TopicKind::kShadowGet: return "shadow_get";
    case TopicKind::kOtaInform: return "ota_inform";
    case TopicKind::kOtaUpgrade: return "ota_upgrade";
    case TopicKind::kOtaProgress: return "ota_progress";
    case TopicKind::kOtaRequest: return "ota_request";
    case TopicKind::kMqttStatus: return "mqtt_status";
    case TopicKind::kUserTopic: return "user";
  }
  return "invalid";
}

bool HasReplyForm(TopicKind kind) noexcept { return IsSysThingKind(kind) || IsSessionKind(kind); }

Result<Topic> ReplyTopicFor(const Topic& request) {
  Topic out = request;
  if (HasReplyForm(request.kind)) {
    if (request.reply) {
      return Errc::kNoReplyTopic;
    }
    out.reply = true;
    return out;
  }
  switch (request.kind) {
    case TopicKind::kRrpcRequest: out.kind = TopicKind::kRrpcResponse; return out;
    case TopicKind::kNtpRequest: out.kind = TopicKind::kNtpResponse; return out;
    case TopicKind::kExtRrpc: return out;
    case TopicKind::kShadowUpdate: out.kind = TopicKind::kShadowGet; return out;
    default: return Errc::kNoReplyTopic;
  }
}

std::string ExpectedMethod(const Topic& topic) {
  switch (topic.kind) {
    case TopicKind::kEventPost: return "thing.event." + topic.identifier + ".post";
    case TopicKind::kServiceCall: return "thing.service." + topic.identifier;
    default: break;
  }
  if (const auto* e = FindSysKind(topic.kind)) {
    return std::string(e->method);
  }
  return std::string(SessionMethod(topic.kind));
}

Result<void> CheckMethod(const Topic& topic, std::string_view method) {
  if (topic.kind == TopicKind::kSysUnknown) {
    return Errc::kUnknownSysTopic;
  }
  if (method.empty()) {
    return {};
  }
  auto matches = [&](std::string_view prefix, std::string_view middle, std::string_view suffix) {
    return method.size() == prefix.size() + middle.size() + suffix.size() && method.starts_with(prefix) &&
           method.ends_with(suffix) && method.substr(prefix.size(), middle.size()) == middle;
  };
  bool ok = true;
  switch (topic.kind) {
    case TopicKind::kEventPost: ok = matches("thing.event.", topic.identifier, ".post"); break;
    case TopicKind::kServiceCall: ok = matches("thing.service.", topic.identifier, ""); break;
    case TopicKind::kRrpcRequest: ok = method.starts_with("thing.service.") && method.size() > 14; break;
    default: {
      std::string_view expected = SessionMethod(topic.kind);
      if (const auto* e = FindSysKind(topic.kind)) {
        expected = e->method;
      }
      ok = expected.empty() || method == expected;
      break;
    }
  }
  if (!ok) {
    return Errc::kMethodMismatch;
  }
  return {};
}

bool IsDevicePublished(const Topic& topic) noexcept {
  bool uplink = false;
  switch (topic.kind) {
    case TopicKind::kPropertySet:
    case TopicKind::kPropertyGet:
    case TopicKind::kServiceCall:
    case TopicKind::kConfigPush:
    case TopicKind::kTopoAddNotify:
    case TopicKind::kTopoChange:
    case TopicKind::kDisable:
    case TopicKind::kEnable:
    case TopicKind::kDelete:
    case TopicKind::kModelDownRaw: uplink = false; break;
    case TopicKind::kRrpcRequest:
    case TopicKind::kNtpResponse:
    case TopicKind::kExtError:
    case TopicKind::kExtRegister:
    case TopicKind::kExtRegisterNwl:
    case TopicKind::kShadowGet:
    case TopicKind::kOtaUpgrade:
    case TopicKind::kMqttStatus: return false;
    case TopicKind::kRrpcResponse:
    case TopicKind::kNtpRequest:
    case TopicKind::kExtRrpc:  // the device answers on the request topic
    case TopicKind::kShadowUpdate:
    case TopicKind::kOtaInform:
    case TopicKind::kOtaProgress:
    case TopicKind::kOtaRequest:
    case TopicKind::kUserTopic: return true;
    default: uplink = true; break;  // remaining /sys thing kinds and combine/* are uplink requests
  }
  return topic.reply ? !uplink : uplink;
}

bool TopicBelongsToDevice(std::string_view filter, std::string_view pk, std::string_view dn) noexcept {
  if (filter.empty() || filter.size() > kMaxTopicBytes || filter.find('\0') != std::string_view::npos ||
      !IsValidProductKey(pk) || !IsValidDeviceName(dn)) {
    return false;
  }
  std::array<std::string_view, kMaxTopicLevels> levels{};
  std::size_t count = 0;
  if (!SplitFilter(filter, levels, count)) {
    return false;
  }
  return InDeviceSpace(levels.data(), count, pk, dn, true);
}

bool DeviceMayPublish(std::string_view topic, std::string_view pk, std::string_view dn) noexcept {
  return topic.find_first_of("+#") == std::string_view::npos && TopicBelongsToDevice(topic, pk, dn);
}

}  // namespace iot::alink
