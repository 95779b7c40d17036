#include "iot/alink/topic.hpp"

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"

namespace alink = iot::alink;
using alink::TopicKind;

namespace {

constexpr const char* kPk = "a1b2c3d4e5f";
constexpr const char* kDn = "dev01";

alink::Topic MustParse(const std::string& text) {
  auto t = alink::ParseTopic(text);
  INFO(text);
  REQUIRE(t.has_value());
  return *t;
}

int CodeOf(const std::string& text) {
  auto t = alink::ParseTopic(text);
  REQUIRE_FALSE(t.has_value());
  return alink::AlinkCode(t.error());
}

}  // namespace

TEST_CASE("Topic: every reference topic parses to its kind and formats back", "[alink][topic]") {
  // topic, kind, identifier, message id, suffix, reply
  using Row = std::tuple<std::string, TopicKind, std::string, std::string, std::string, bool>;
  const std::string sys = "/sys/a1b2c3d4e5f/dev01/";
  const auto row = GENERATE_COPY(values<Row>({
      {sys + "thing/event/property/post", TopicKind::kPropertyPost, "", "", "", false},
      {sys + "thing/event/property/post_reply", TopicKind::kPropertyPost, "", "", "", true},
      {sys + "thing/event/alarm/post", TopicKind::kEventPost, "alarm", "", "", false},
      {sys + "thing/event/alarm/post_reply", TopicKind::kEventPost, "alarm", "", "", true},
      {sys + "thing/event/testFb:alarm/post", TopicKind::kEventPost, "testFb:alarm", "", "", false},
      {sys + "thing/service/property/set", TopicKind::kPropertySet, "", "", "", false},
      {sys + "thing/service/property/set_reply", TopicKind::kPropertySet, "", "", "", true},
      {sys + "thing/service/property/get", TopicKind::kPropertyGet, "", "", "", false},
      {sys + "thing/service/property/get_reply", TopicKind::kPropertyGet, "", "", "", true},
      {sys + "thing/service/SetWeight", TopicKind::kServiceCall, "SetWeight", "", "", false},
      {sys + "thing/service/SetWeight_reply", TopicKind::kServiceCall, "SetWeight", "", "", true},
      {sys + "thing/service/fb1:Reboot", TopicKind::kServiceCall, "fb1:Reboot", "", "", false},
      {sys + "thing/event/property/history/post", TopicKind::kPropertyHistoryPost, "", "", "", false},
      {sys + "thing/event/property/history/post_reply", TopicKind::kPropertyHistoryPost, "", "", "", true},
      {sys + "thing/event/property/pack/post", TopicKind::kPropertyPackPost, "", "", "", false},
      {sys + "thing/event/property/pack/post_reply", TopicKind::kPropertyPackPost, "", "", "", true},
      {sys + "thing/event/property/batch/post", TopicKind::kPropertyBatchPost, "", "", "", false},
      {sys + "thing/event/property/batch/post_reply", TopicKind::kPropertyBatchPost, "", "", "", true},
      {sys + "thing/property/desired/get", TopicKind::kDesiredGet, "", "", "", false},
      {sys + "thing/property/desired/get_reply", TopicKind::kDesiredGet, "", "", "", true},
      {sys + "thing/property/desired/delete", TopicKind::kDesiredDelete, "", "", "", false},
      {sys + "thing/property/desired/delete_reply", TopicKind::kDesiredDelete, "", "", "", true},
      {sys + "thing/deviceinfo/update", TopicKind::kDeviceInfoUpdate, "", "", "", false},
      {sys + "thing/deviceinfo/update_reply", TopicKind::kDeviceInfoUpdate, "", "", "", true},
      {sys + "thing/deviceinfo/delete", TopicKind::kDeviceInfoDelete, "", "", "", false},
      {sys + "thing/deviceinfo/delete_reply", TopicKind::kDeviceInfoDelete, "", "", "", true},
      {sys + "thing/config/get", TopicKind::kConfigGet, "", "", "", false},
      {sys + "thing/config/get_reply", TopicKind::kConfigGet, "", "", "", true},
      {sys + "thing/config/push", TopicKind::kConfigPush, "", "", "", false},
      {sys + "thing/config/push_reply", TopicKind::kConfigPush, "", "", "", true},
      {sys + "thing/dsltemplate/get", TopicKind::kDslTemplateGet, "", "", "", false},
      {sys + "thing/dsltemplate/get_reply", TopicKind::kDslTemplateGet, "", "", "", true},
      {sys + "thing/dynamicTsl/get", TopicKind::kDynamicTslGet, "", "", "", false},
      {sys + "thing/dynamicTsl/get_reply", TopicKind::kDynamicTslGet, "", "", "", true},
      {sys + "thing/log/post", TopicKind::kLogPost, "", "", "", false},
      {sys + "thing/log/post_reply", TopicKind::kLogPost, "", "", "", true},
      {sys + "thing/ota/firmware/get", TopicKind::kOtaFirmwareGet, "", "", "", false},
      {sys + "thing/ota/firmware/get_reply", TopicKind::kOtaFirmwareGet, "", "", "", true},
      {sys + "thing/sub/register", TopicKind::kSubRegister, "", "", "", false},
      {sys + "thing/sub/register_reply", TopicKind::kSubRegister, "", "", "", true},
      {sys + "thing/sub/unregister", TopicKind::kSubUnregister, "", "", "", false},
      {sys + "thing/sub/unregister_reply", TopicKind::kSubUnregister, "", "", "", true},
      {sys + "thing/topo/add", TopicKind::kTopoAdd, "", "", "", false},
      {sys + "thing/topo/add_reply", TopicKind::kTopoAdd, "", "", "", true},
      {sys + "thing/topo/delete", TopicKind::kTopoDelete, "", "", "", false},
      {sys + "thing/topo/delete_reply", TopicKind::kTopoDelete, "", "", "", true},
      {sys + "thing/topo/get", TopicKind::kTopoGet, "", "", "", false},
      {sys + "thing/topo/get_reply", TopicKind::kTopoGet, "", "", "", true},
      {sys + "thing/list/found", TopicKind::kListFound, "", "", "", false},
      {sys + "thing/list/found_reply", TopicKind::kListFound, "", "", "", true},
      {sys + "thing/topo/add/notify", TopicKind::kTopoAddNotify, "", "", "", false},
      {sys + "thing/topo/add/notify_reply", TopicKind::kTopoAddNotify, "", "", "", true},
      {sys + "thing/topo/change", TopicKind::kTopoChange, "", "", "", false},
      {sys + "thing/topo/change_reply", TopicKind::kTopoChange, "", "", "", true},
      {sys + "thing/disable", TopicKind::kDisable, "", "", "", false},
      {sys + "thing/disable_reply", TopicKind::kDisable, "", "", "", true},
      {sys + "thing/enable", TopicKind::kEnable, "", "", "", false},
      {sys + "thing/enable_reply", TopicKind::kEnable, "", "", "", true},
      {sys + "thing/delete", TopicKind::kDelete, "", "", "", false},
      {sys + "thing/delete_reply", TopicKind::kDelete, "", "", "", true},
      {sys + "thing/model/up_raw", TopicKind::kModelUpRaw, "", "", "", false},
      {sys + "thing/model/up_raw_reply", TopicKind::kModelUpRaw, "", "", "", true},
      {sys + "thing/model/down_raw", TopicKind::kModelDownRaw, "", "", "", false},
      {sys + "thing/model/down_raw_reply", TopicKind::kModelDownRaw, "", "", "", true},
      {sys + "_thing/diag/post", TopicKind::kDiagPost, "", "", "", false},
      {sys + "_thing/diag/post_reply", TopicKind::kDiagPost, "", "", "", true},
      {sys + "rrpc/request/1234567890", TopicKind::kRrpcRequest, "", "1234567890", "", false},
      {sys + "rrpc/response/1234567890", TopicKind::kRrpcResponse, "", "1234567890", "", false},
      {"/ext/ntp/a1b2c3d4e5f/dev01/request", TopicKind::kNtpRequest, "", "", "", false},
      {"/ext/ntp/a1b2c3d4e5f/dev01/response", TopicKind::kNtpResponse, "", "", "", false},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/login", TopicKind::kSessionLogin, "", "", "", false},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/login_reply", TopicKind::kSessionLogin, "", "", "", true},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/logout", TopicKind::kSessionLogout, "", "", "", false},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/logout_reply", TopicKind::kSessionLogout, "", "", "", true},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/batch_login", TopicKind::kSessionBatchLogin, "", "", "",
       false},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/batch_login_reply", TopicKind::kSessionBatchLogin, "", "", "",
       true},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/batch_logout", TopicKind::kSessionBatchLogout, "", "", "",
       false},
      {"/ext/session/a1b2c3d4e5f/dev01/combine/batch_logout_reply", TopicKind::kSessionBatchLogout, "", "",
       "", true},
      {"/ext/error/a1b2c3d4e5f/dev01", TopicKind::kExtError, "", "", "", false},
      {"/ext/rrpc/42/sys/a1b2c3d4e5f/dev01/thing/service/Reboot", TopicKind::kExtRrpc, "", "42",
       "sys/a1b2c3d4e5f/dev01/thing/service/Reboot", false},
      {"/ext/rrpc/42//a1b2c3d4e5f/dev01/user/get", TopicKind::kExtRrpc, "", "42",
       "/a1b2c3d4e5f/dev01/user/get", false},
      {"/ext/register", TopicKind::kExtRegister, "", "", "", false},
      {"/ext/regnwl", TopicKind::kExtRegisterNwl, "", "", "", false},
      {"/shadow/update/a1b2c3d4e5f/dev01", TopicKind::kShadowUpdate, "", "", "", false},
      {"/shadow/get/a1b2c3d4e5f/dev01", TopicKind::kShadowGet, "", "", "", false},
      {"/ota/device/inform/a1b2c3d4e5f/dev01", TopicKind::kOtaInform, "", "", "", false},
      {"/ota/device/upgrade/a1b2c3d4e5f/dev01", TopicKind::kOtaUpgrade, "", "", "", false},
      {"/ota/device/progress/a1b2c3d4e5f/dev01", TopicKind::kOtaProgress, "", "", "", false},
      {"/ota/device/request/a1b2c3d4e5f/dev01", TopicKind::kOtaRequest, "", "", "", false},
      {"/as/mqtt/status/a1b2c3d4e5f/dev01", TopicKind::kMqttStatus, "", "", "", false},
      {"/a1b2c3d4e5f/dev01/user/get", TopicKind::kUserTopic, "", "", "get", false},
      {"/a1b2c3d4e5f/dev01/user/floor/3/temp", TopicKind::kUserTopic, "", "", "floor/3/temp", false},
      {sys + "thing/unknown/thing", TopicKind::kSysUnknown, "", "", "thing/unknown/thing", false},
      {sys + "thing/unknown/thing_reply", TopicKind::kSysUnknown, "", "", "thing/unknown/thing", true},
  }));
  const auto& [text, kind, identifier, message_id, suffix, reply] = row;
  INFO(text);
  const auto t = MustParse(text);
  CHECK(t.kind == kind);
  CHECK(t.identifier == identifier);
  CHECK(t.message_id == message_id);
  CHECK(t.suffix == suffix);
  CHECK(t.reply == reply);
  if (kind != TopicKind::kExtRegister && kind != TopicKind::kExtRegisterNwl) {
    CHECK(t.product_key == kPk);
    CHECK(t.device_name == kDn);
  }
  CHECK(alink::FormatTopic(t) == text);
  CHECK(alink::TopicKindName(kind) != "invalid");
}

TEST_CASE("Topic: unknown /sys topics parse as kSysUnknown and answer 6300", "[alink][topic]") {
  const auto t = MustParse("/sys/a1b2c3d4e5f/dev01/thing/event/bad.id/post");
  CHECK(t.kind == TopicKind::kSysUnknown);
  CHECK(t.suffix == "thing/event/bad.id/post");
  const auto check = alink::CheckMethod(t, "");
  REQUIRE_FALSE(check.has_value());
  CHECK(alink::AlinkCode(check.error()) == iot::codes::kMethodMismatch);
  // Reserved words are not identifiers, so these are not event/service topics either.
  CHECK(MustParse("/sys/a1b2c3d4e5f/dev01/thing/service/set").kind == TopicKind::kSysUnknown);
  CHECK(MustParse("/sys/a1b2c3d4e5f/dev01/thing/event/value/post").kind == TopicKind::kSysUnknown);
}

TEST_CASE("Topic: non-matching topics are errors with code 6203", "[alink][topic]") {
  const auto text = GENERATE(
      as<std::string>{}, "", "/", "sys/a1b2c3d4e5f/dev01/thing/event/property/post", "/sys",
      "/sys/a1b2c3d4e5f", "/sys/a1b2c3d4e5f/dev01", "/sys/a1b2c3d4e5f/dev01/",
      "/sys/a1b2c3d4e5f/dev01/thing/service/+", "/sys/a1b2c3d4e5f/dev01/#",
      "/sys/a1/dev01/thing/event/property/post", "/sys/a1b2c3d4e5f/d/thing/event/property/post",
      "/sys/a1b2c3d4e5f/dev 01/thing/event/property/post", "/sys/a1b2-3d4e5f/dev01/thing/event/property/post",
      "/ext/ntp/a1b2c3d4e5f/dev01/foo", "/ext/ntp/a1b2c3d4e5f/dev01", "/ext/ntp/a1b2c3d4e5f/dev01/request/x",
      "/ext/session/a1b2c3d4e5f/dev01/combine/x", "/ext/session/a1b2c3d4e5f/dev01/login",
      "/ext/error/a1b2c3d4e5f", "/ext/error/a1b2c3d4e5f/dev01/x", "/ext/rrpc/42", "/ext/rrpc/42/",
      "/ext/rrpc/4.2/a/b", "/ext/foo", "/ext/register/x", "/shadow/delete/a1b2c3d4e5f/dev01",
      "/shadow/get/a1b2c3d4e5f", "/ota/device/foo/a1b2c3d4e5f/dev01",
      "/ota/firmware/inform/a1b2c3d4e5f/dev01", "/as/mqtt/status/a1b2c3d4e5f",
      "/as/mqtt/other/a1b2c3d4e5f/dev01", "/a1b2c3d4e5f/dev01/user", "/a1b2c3d4e5f/dev01/user/",
      "/a1b2c3d4e5f/dev01/thing/event/property/post", "/sys/a1b2c3d4e5f/dev01/rrpc/request/",
      "/sys/a1b2c3d4e5f/dev01/rrpc/request/1/2", "$SYS/broker/load",
      std::string("/sys/a1b2c3d4e5f/dev01/thing\0x", 30), "/" + std::string(2000, 'a'));
  INFO(text);
  CHECK(CodeOf(text) == iot::codes::kTopicParseFailed);
}

TEST_CASE("Topic: segment validators follow the RegisterDevice rules", "[alink][topic]") {
  CHECK(alink::IsValidProductKey("a1b2c3d4e5f"));
  CHECK(alink::IsValidProductKey("k0AbCdEf"));
  CHECK_FALSE(alink::IsValidProductKey("pk"));
  CHECK_FALSE(alink::IsValidProductKey(std::string(33, 'a')));
  CHECK_FALSE(alink::IsValidProductKey("a1b2_3d4"));
  CHECK(alink::IsValidDeviceName("dev-01_a@b.c:d"));
  CHECK_FALSE(alink::IsValidDeviceName("dev"));
  CHECK_FALSE(alink::IsValidDeviceName("dev+1"));
  CHECK_FALSE(alink::IsValidDeviceName("dev#1"));
  CHECK_FALSE(alink::IsValidDeviceName("dev/1"));
  CHECK_FALSE(alink::IsValidDeviceName(std::string(33, 'a')));
  CHECK(alink::IsValidIdentifier("fb_1:Temp"));
  CHECK_FALSE(alink::IsValidIdentifier(":Temp"));
  CHECK_FALSE(alink::IsValidIdentifier("a.b"));
  CHECK(alink::IsValidMessageId("1234567890"));
  CHECK_FALSE(alink::IsValidMessageId("+"));
}

TEST_CASE("Topic: reply topics for requests", "[alink][topic]") {
  const auto reply_of = [](const std::string& text) {
    auto r = alink::ReplyTopicFor(MustParse(text));
    REQUIRE(r.has_value());
    return alink::FormatTopic(*r);
  };
  CHECK(reply_of("/sys/a1b2c3d4e5f/dev01/thing/event/property/post") ==
        "/sys/a1b2c3d4e5f/dev01/thing/event/property/post_reply");
  CHECK(reply_of("/sys/a1b2c3d4e5f/dev01/thing/service/Reboot") ==
        "/sys/a1b2c3d4e5f/dev01/thing/service/Reboot_reply");
  CHECK(reply_of("/sys/a1b2c3d4e5f/dev01/rrpc/request/99") == "/sys/a1b2c3d4e5f/dev01/rrpc/response/99");
  CHECK(reply_of("/ext/ntp/a1b2c3d4e5f/dev01/request") == "/ext/ntp/a1b2c3d4e5f/dev01/response");
  CHECK(reply_of("/ext/session/a1b2c3d4e5f/dev01/combine/login") ==
        "/ext/session/a1b2c3d4e5f/dev01/combine/login_reply");
  CHECK(reply_of("/ext/rrpc/7/a1b2c3d4e5f/dev01/user/get") == "/ext/rrpc/7/a1b2c3d4e5f/dev01/user/get");
  CHECK(reply_of("/shadow/update/a1b2c3d4e5f/dev01") == "/shadow/get/a1b2c3d4e5f/dev01");
  CHECK(reply_of("/sys/a1b2c3d4e5f/dev01/thing/foo") == "/sys/a1b2c3d4e5f/dev01/thing/foo_reply");
  for (const auto* none :
       {"/sys/a1b2c3d4e5f/dev01/thing/event/property/post_reply", "/ota/device/inform/a1b2c3d4e5f/dev01",
        "/a1b2c3d4e5f/dev01/user/x", "/as/mqtt/status/a1b2c3d4e5f/dev01"}) {
    auto r = alink::ReplyTopicFor(MustParse(none));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == alink::Errc::kNoReplyTopic);
  }
}

TEST_CASE("Topic: expected methods and the method-vs-topic check", "[alink][topic]") {
  const auto method_of = [](const std::string& text) { return alink::ExpectedMethod(MustParse(text)); };
  const std::string sys = "/sys/a1b2c3d4e5f/dev01/";
  CHECK(method_of(sys + "thing/event/property/post") == "thing.event.property.post");
  CHECK(method_of(sys + "thing/event/alarm/post") == "thing.event.alarm.post");
  CHECK(method_of(sys + "thing/event/fb:alarm/post") == "thing.event.fb:alarm.post");
  CHECK(method_of(sys + "thing/service/SetWeight") == "thing.service.SetWeight");
  CHECK(method_of(sys + "thing/service/property/set") == "thing.service.property.set");
  CHECK(method_of(sys + "thing/event/property/history/post") == "thing.event.property.history.post");
  CHECK(method_of(sys + "thing/event/property/pack/post") == "thing.event.property.pack.post");
  CHECK(method_of(sys + "thing/event/property/batch/post") == "thing.event.property.batch.post");
  CHECK(method_of(sys + "thing/property/desired/get") == "thing.property.desired.get");
  CHECK(method_of(sys + "thing/property/desired/delete") == "thing.property.desired.delete");
  CHECK(method_of(sys + "thing/deviceinfo/update") == "thing.deviceinfo.update");
  CHECK(method_of(sys + "thing/config/get") == "thing.config.get");
  CHECK(method_of(sys + "thing/dsltemplate/get") == "thing.dsltemplate.get");
  CHECK(method_of(sys + "thing/dynamicTsl/get") == "thing.dynamicTsl.get");
  CHECK(method_of(sys + "thing/log/post") == "thing.log.post");
  CHECK(method_of(sys + "thing/ota/firmware/get") == "thing.ota.firmware.get");
  CHECK(method_of(sys + "thing/sub/register") == "thing.sub.register");
  CHECK(method_of(sys + "thing/topo/add") == "thing.topo.add");
  CHECK(method_of(sys + "thing/list/found") == "thing.list.found");
  CHECK(method_of(sys + "thing/disable") == "thing.disable");
  CHECK(method_of("/ext/session/a1b2c3d4e5f/dev01/combine/batch_login") == "combine.batch.login");
  CHECK(method_of(sys + "thing/model/up_raw").empty());
  CHECK(method_of("/ext/ntp/a1b2c3d4e5f/dev01/request").empty());

  const auto post = MustParse(sys + "thing/event/property/post");
  CHECK(alink::CheckMethod(post, "thing.event.property.post").has_value());
  CHECK(alink::CheckMethod(post, "").has_value());
  const auto wrong = alink::CheckMethod(post, "thing.event.alarm.post");
  REQUIRE_FALSE(wrong.has_value());
  CHECK(alink::AlinkCode(wrong.error()) == 6300);

  const auto event = MustParse(sys + "thing/event/alarm/post");
  CHECK(alink::CheckMethod(event, "thing.event.alarm.post").has_value());
  CHECK_FALSE(alink::CheckMethod(event, "thing.event.alarm2.post").has_value());
  CHECK_FALSE(alink::CheckMethod(event, "thing.event.alar.post").has_value());
  CHECK_FALSE(alink::CheckMethod(event, "thing.event.property.post").has_value());

  const auto service = MustParse(sys + "thing/service/Reboot_reply");
  CHECK(alink::CheckMethod(service, "thing.service.Reboot").has_value());
  CHECK_FALSE(alink::CheckMethod(service, "thing.service.Rebootx").has_value());

  const auto rrpc = MustParse(sys + "rrpc/request/1");
  CHECK(alink::CheckMethod(rrpc, "thing.service.SelfTest").has_value());
  CHECK_FALSE(alink::CheckMethod(rrpc, "thing.service.").has_value());
  CHECK_FALSE(alink::CheckMethod(rrpc, "thing.event.property.post").has_value());

  const auto login = MustParse("/ext/session/a1b2c3d4e5f/dev01/combine/login");
  CHECK(alink::CheckMethod(login, "").has_value());  // Node SDK sends "method":""
  CHECK(alink::CheckMethod(login, "combine.login").has_value());
  CHECK_FALSE(alink::CheckMethod(login, "combine.logout").has_value());

  // Kinds without a method accept anything: the topic alone decides.
  CHECK(alink::CheckMethod(MustParse(sys + "thing/model/up_raw"), "whatever").has_value());
}

TEST_CASE("Topic: device-published direction", "[alink][topic]") {
  const std::string sys = "/sys/a1b2c3d4e5f/dev01/";
  CHECK(alink::IsDevicePublished(MustParse(sys + "thing/event/property/post")));
  CHECK_FALSE(alink::IsDevicePublished(MustParse(sys + "thing/event/property/post_reply")));
  CHECK_FALSE(alink::IsDevicePublished(MustParse(sys + "thing/service/property/set")));
  CHECK(alink::IsDevicePublished(MustParse(sys + "thing/service/property/set_reply")));
  CHECK(alink::IsDevicePublished(MustParse(sys + "rrpc/response/1")));
  CHECK_FALSE(alink::IsDevicePublished(MustParse(sys + "rrpc/request/1")));
  CHECK(alink::IsDevicePublished(MustParse("/ext/ntp/a1b2c3d4e5f/dev01/request")));
  CHECK_FALSE(alink::IsDevicePublished(MustParse("/as/mqtt/status/a1b2c3d4e5f/dev01")));
}

TEST_CASE("Topic ACL: every subscription the C and Node SDKs make is allowed", "[alink][topic][acl]") {
  const std::string sys = "/sys/a1b2c3d4e5f/dev01/";
  const auto filter = GENERATE_COPY(values<std::string>({
      // C SDK 3.x
      sys + "thing/event/+/post_reply",
      sys + "thing/service/+",
      sys + "#",
      sys + "rrpc/request/+",
      sys + "thing/service/property/set",
      sys + "thing/model/down_raw",
      sys + "thing/model/up_raw_reply",
      sys + "thing/config/push",
      sys + "thing/dsltemplate/get_reply",
      sys + "thing/topo/add/notify",
      sys + "thing/disable",
      "/ext/ntp/a1b2c3d4e5f/dev01/response",
      "/ext/session/a1b2c3d4e5f/dev01/combine/login_reply",
      "/ext/error/a1b2c3d4e5f/dev01",
      "/ota/device/upgrade/a1b2c3d4e5f/dev01",
      "/ext/rrpc/+/sys/a1b2c3d4e5f/dev01/thing/service/+",
      // Node SDK 1.2.8
      sys + "thing/event/property/post_reply",
      sys + "thing/deviceinfo/update_reply",
      sys + "thing/deviceinfo/delete_reply",
      sys + "thing/config/get_reply",
      sys + "thing/config/push_reply",
      "/shadow/get/a1b2c3d4e5f/dev01",
      sys + "thing/topo/add_reply",
      sys + "thing/sub/register_reply",
      sys + "thing/service/Reboot",
      // Go SDK shape and custom topics
      "/ext/rrpc/+//a1b2c3d4e5f/dev01/user/get",
      "/a1b2c3d4e5f/dev01/user/#",
      "/a1b2c3d4e5f/dev01/user/+/temp",
      "/shadow/+/a1b2c3d4e5f/dev01",
      "/ext/ntp/a1b2c3d4e5f/dev01/+",
  }));
  INFO(filter);
  CHECK(alink::TopicBelongsToDevice(filter, "a1b2c3d4e5f", "dev01"));
}

TEST_CASE("Topic ACL: filters reaching outside the device space are refused", "[alink][topic][acl]") {
  const auto filter = GENERATE(
      as<std::string>{}, "", "#", "+", "/#", "/+/+/#", "$SYS/#", "$SYS/broker/clients", "/sys/#",
      "/sys/+/+/thing/service/+", "/sys/a1b2c3d4e5f/+/thing/#", "/sys/+/dev01/#",
      "/sys/a1b2c3d4e5f/other01/#", "/sys/a1b2c3d4e5f/dev01", "/sys/a1b2c3d4e5f/dev01#",
      "/sys/a1b2c3d4e5f/dev01/thing/#/x", "/sys/a1b2c3d4e5f/dev01/thing/se+",
      "/as/mqtt/status/a1b2c3d4e5f/dev01", "/as/#", "/ext/#", "/ext/ntp/+/dev01/request",
      "/ext/error/a1b2c3d4e5f/dev01/x", "/ext/error/a1b2c3d4e5f/+", "/shadow/#", "/shadow/+/+/dev01",
      "/ota/device/+/a1b2c3d4e5f/+", "/ota/#", "/a1b2c3d4e5f/dev01/#", "/a1b2c3d4e5f/dev01/user",
      "/+/dev01/user/#", "/ext/rrpc/+/#", "/ext/rrpc/#", "/ext/rrpc/+/sys/+/+/thing/service/+",
      "/ext/rrpc/+/ext/rrpc/+/sys/a1b2c3d4e5f/dev01/#", "/ext/register", "sys/a1b2c3d4e5f/dev01/#",
      std::string("/sys/a1b2c3d4e5f/dev01/\0", 24), "/sys/a1b2c3d4e5f/dev01/" + std::string(2000, 'a'));
  INFO(filter);
  CHECK_FALSE(alink::TopicBelongsToDevice(filter, "a1b2c3d4e5f", "dev01"));
}

TEST_CASE("Topic ACL: publish needs a concrete topic and a valid device", "[alink][topic][acl]") {
  CHECK(alink::DeviceMayPublish("/sys/a1b2c3d4e5f/dev01/thing/event/property/post", "a1b2c3d4e5f", "dev01"));
  CHECK_FALSE(alink::DeviceMayPublish("/sys/a1b2c3d4e5f/dev01/thing/event/+/post", "a1b2c3d4e5f", "dev01"));
  CHECK_FALSE(alink::DeviceMayPublish("/sys/a1b2c3d4e5f/dev01/#", "a1b2c3d4e5f", "dev01"));
  // Invalid credentials never own anything, even a matching topic.
  CHECK_FALSE(alink::TopicBelongsToDevice("/sys/+/+/#", "+", "+"));
  CHECK_FALSE(alink::TopicBelongsToDevice("/sys/#/x/#", "#", "x"));
}

TEST_CASE("Topic: parse and ACL agree on the level limit", "[alink][topic][acl]") {
  // Found by fuzzing: a topic with more levels than the ACL can split parsed but was not owned.
  std::string deep = "/a1b2c3d4e5f/dev01/user";
  while (std::count(deep.begin(), deep.end(), '/') < static_cast<long>(alink::kMaxTopicLevels) - 1) {
    deep += "/x";
  }
  REQUIRE(alink::ParseTopic(deep).has_value());
  CHECK(alink::TopicBelongsToDevice(deep, "a1b2c3d4e5f", "dev01"));
  deep += "/x";
  CHECK_FALSE(alink::ParseTopic(deep).has_value());
  CHECK_FALSE(alink::TopicBelongsToDevice(deep, "a1b2c3d4e5f", "dev01"));
}

TEST_CASE("TopicLevels: the one level splitter (parser, device ACL, broker filters)", "[alink][topic]") {
  auto split = [](std::string_view text) {
    std::vector<std::string> out;
    iot::alink::TopicLevels levels(text);
    std::string_view level;
    while (levels.Next(level)) {
      out.emplace_back(level);
    }
    return out;
  };
  CHECK(split("/sys/pk/dn") == std::vector<std::string>{"", "sys", "pk", "dn"});
  CHECK(split("a//b/") == std::vector<std::string>{"a", "", "b", ""});
  CHECK(split("") == std::vector<std::string>{""});
  CHECK(split("#") == std::vector<std::string>{"#"});

  iot::alink::TopicLevels levels("sys/pk/dn/thing/event");
  std::string_view level;
  REQUIRE(levels.Next(level));
  CHECK(level == "sys");
  CHECK_FALSE(levels.Done());
  CHECK(levels.Rest() == "pk/dn/thing/event");
  REQUIRE(levels.Next(level));
  REQUIRE(levels.Next(level));
  REQUIRE(levels.Next(level));
  REQUIRE(levels.Next(level));
  CHECK(level == "event");
  CHECK(levels.Done());
  CHECK(levels.Rest().empty());
  CHECK_FALSE(levels.Next(level));
}
