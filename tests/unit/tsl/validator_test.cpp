#include "iot/tsl/validator.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "iot/common/codes.hpp"
#include "iot/tsl/parser.hpp"

namespace iot::tsl {
namespace {

using nlohmann::json;
using test::Fixture;

constexpr std::int64_t kNow = 1700000000000;

const ThingModel& Model() {
  static const ThingModel model = test::ReferenceModel();
  return model;
}

const ThingModel& ModelWithModule() {
  static const ThingModel model = [] {
    auto result =
        ParseThingModel(Fixture("valid/reference_example.json"), {Fixture("valid/custom_module.json")});
    if (!result.ok()) {
      throw std::runtime_error("fixtures do not parse");
    }
    return std::move(*result.model);
  }();
  return model;
}

std::string Describe(const Report& report) {
  std::string text = "code " + std::to_string(report.code) + " " + report.message + "\n";
  for (const Refusal& refusal : report.refused) {
    text +=
        "  refused " + refusal.identifier + " " + std::to_string(refusal.code) + " " + refusal.message + "\n";
  }
  return text;
}

enum class Fault { kNone, kType, kRange };

struct ValueCase {
  const char* property;
  json value;
  Fault fault;
  int code;             // expected code when refused
  const char* message;  // expected message when refused ("" = not checked)
};

std::string Repeat(const std::string& unit, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) {
    out += unit;
  }
  return out;
}

// Every data type of the reference model with a valid value, a wrong JSON type and (where the
// type has one) an out-of-range value.
std::vector<ValueCase> ValueCases() {
  const json position{{"Lat", 30.28},          {"Lng", 120.15}, {"Fix", 1}, {"Valid", 1},
                      {"Ts", "1700000000000"}, {"Note", "ok"},  {"Sats", 9}};
  json position_lat = position;
  position_lat["Lat"] = 95;
  json position_extra = position;
  position_extra["Foo"] = 1;
  json position_missing = position;
  position_missing.erase("Sats");
  json position_bad_fix = position;
  position_bad_fix["Fix"] = 7;
  json position_bad_note = position;
  position_bad_note["Note"] = 5;
  return {
      {"PowerOn", 1, Fault::kNone, 0, ""},
      {"PowerOn", 0, Fault::kNone, 0, ""},
      {"PowerOn", true, Fault::kType, codes::kBadBool, "PowerOn: true is not a bool (0 or 1)"},
      {"PowerOn", 2, Fault::kType, codes::kBadBool, ""},
      {"PowerOn", "1", Fault::kType, codes::kBadBool, ""},
      {"PowerOn", 1.0, Fault::kType, codes::kBadBool, ""},
      {"TargetTemp", 21.5, Fault::kNone, 0, ""},
      {"TargetTemp", 21, Fault::kNone, 0, ""},  // integer literal accepted for float
      {"TargetTemp", "21", Fault::kType, codes::kBadFloat, "TargetTemp: \"21\" is not a float"},
      {"TargetTemp", 40, Fault::kRange, codes::kBadFloat, "TargetTemp: 40 is above max 35"},
      {"TargetTemp", 4.5, Fault::kRange, codes::kBadFloat, "TargetTemp: 4.5 is below min 5"},
      {"TargetTemp", 1e39, Fault::kType, codes::kBadFloat, ""},
      {"Humidity", 45.25, Fault::kNone, 0, ""},
      {"Humidity", 101, Fault::kRange, codes::kBadDouble, "Humidity: 101 is above max 100"},
      {"Humidity", nullptr, Fault::kType, codes::kBadDouble, "Humidity: null is not a double"},
      {"Humidity", json::object(), Fault::kType, codes::kBadDouble, "Humidity: {...} is not a double"},
      {"FanLevel", 2, Fault::kNone, 0, ""},
      {"FanLevel", 3, Fault::kRange, codes::kBadEnum, "FanLevel: 3 is not one of the enum values"},
      {"FanLevel", 1.5, Fault::kType, codes::kBadEnum, ""},
      {"FanLevel", "1", Fault::kType, codes::kBadEnum, ""},
      {"RunCount", 12, Fault::kNone, 0, ""},
      {"RunCount", -1, Fault::kRange, codes::kBadInt, "RunCount: -1 is below min 0"},
      {"RunCount", 1000001, Fault::kRange, codes::kBadInt, ""},
      {"RunCount", 2147483648LL, Fault::kType, codes::kBadInt, "RunCount: 2147483648 is out of int32 range"},
      {"RunCount", -2147483649LL, Fault::kType, codes::kBadInt, ""},
      {"RunCount", 12.0, Fault::kType, codes::kBadInt, ""},
      {"RunCount", "hot", Fault::kType, codes::kBadInt, "RunCount: \"hot\" is not an int"},
      {"RunCount", json::array({1}), Fault::kType, codes::kBadInt, "RunCount: [...] is not an int"},
      {"Label", "hall", Fault::kNone, 0, ""},
      {"Label", std::string(32, 'x'), Fault::kNone, 0, ""},
      {"Label", std::string(33, 'x'), Fault::kRange, codes::kBadText,
       "Label: text of 33 bytes is longer than length 32"},
      {"Label", Repeat("温", 11), Fault::kRange, codes::kBadText, ""},  // 11 chars, 33 bytes
      {"Label", 5, Fault::kType, codes::kBadText, "Label: 5 is not a text"},
      {"LastService", "1699990000000", Fault::kNone, 0, ""},
      {"LastService", 1699990000000LL, Fault::kType, codes::kBadDate, ""},
      {"LastService", "abc", Fault::kType, codes::kBadDate, ""},
      {"LastService", "", Fault::kType, codes::kBadDate, ""},
      {"LastService", "-1", Fault::kType, codes::kBadDate, ""},
      {"Position", position, Fault::kNone, 0, ""},
      {"Position", position_lat, Fault::kRange, codes::kBadDouble, "Position.Lat: 95 is above max 90"},
      {"Position", position_extra, Fault::kType, codes::kParamNotExist, "Position.Foo: params not exist"},
      {"Position", position_missing, Fault::kRange, codes::kBadStruct,
       "Position.Sats: required member is missing"},
      {"Position", position_bad_fix, Fault::kRange, codes::kBadEnum, ""},
      {"Position", position_bad_note, Fault::kType, codes::kBadText, "Position.Note: 5 is not a text"},
      {"Position", json::array(), Fault::kType, codes::kBadStruct, ""},
      {"Position", json::object(), Fault::kRange, codes::kBadStruct, ""},
      {"Samples", json::array({1.0, 2.5, 3}), Fault::kNone, 0, ""},
      {"Samples", json::array(), Fault::kNone, 0, ""},
      {"Samples", json::array({1, 2, 3, 4, 5, 6, 7, 8, 9}), Fault::kRange, codes::kBadArray,
       "Samples: has 9 items, more than size 8"},
      {"Samples", "x", Fault::kType, codes::kNotArray, "Samples: \"x\" is not an array"},
      {"Samples", json::array({1, "a"}), Fault::kType, codes::kBadFloat, "Samples[1]: \"a\" is not a float"},
      {"Zones", json::parse(R"([{"ZoneId":1,"ZoneName":"north"},{"ZoneId":2,"ZoneName":"south"}])"),
       Fault::kNone, 0, ""},
      {"Zones", json::parse(R"([{"ZoneId":1,"ZoneName":"a"},{"ZoneId":7,"ZoneName":"b"}])"), Fault::kRange,
       codes::kBadInt, "Zones[1].ZoneId: 7 is above max 4"},
      {"Zones", json::parse(R"([{"ZoneId":1}])"), Fault::kRange, codes::kBadStruct,
       "Zones[0].ZoneName: required member is missing"},
      {"Zones", json::parse(R"([{"ZoneId":"1","ZoneName":"a"}])"), Fault::kType, codes::kBadInt,
       "Zones[0].ZoneId: \"1\" is not an int"},
      {"Zones", json::parse(R"([{"ZoneId":1,"ZoneName":"a","X":0}])"), Fault::kType, codes::kParamNotExist,
       "Zones[0].X: params not exist"},
      {"Zones", json::parse(R"([1])"), Fault::kType, codes::kBadStruct,
       "Zones[0]: 1 is not a struct (object)"},
  };
}

TEST_CASE("Validator: checks every data type for each mode and fault", "[tsl][validator]") {
  const ValueCase c = GENERATE(from_range(ValueCases()));
  const Mode mode = GENERATE(Mode::kNone, Mode::kWeak, Mode::kStrict);
  INFO(c.property << " = " << c.value.dump() << " in " << ModeName(mode));
  const json params{{c.property, c.value}};
  const Report report = Validator(&Model(), mode).PropertyPost(params, kNow);
  INFO(Describe(report));
  REQUIRE(report.request_ok());
  const bool refused =
      (c.fault == Fault::kType && mode != Mode::kNone) || (c.fault == Fault::kRange && mode == Mode::kStrict);
  if (!refused) {
    REQUIRE(report.accepted.size() == 1);
    CHECK(report.refused.empty());
    CHECK(report.accepted[0].identifier == c.property);
    CHECK(report.accepted[0].value == &params[c.property]);  // borrowed, not copied
    CHECK(report.accepted[0].time_ms == kNow);
  } else {
    CHECK(report.accepted.empty());
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].identifier == c.property);
    CHECK(report.refused[0].code == c.code);
    CHECK(report.refused[0].value == &params[c.property]);  // kept for checkFailedData
    CHECK(report.refused[0].time_ms == kNow);
    if (std::string(c.message).size() > 0) {
      CHECK(report.refused[0].message == c.message);
    }
  }
}

TEST_CASE("Validator: CheckValue applies the same rules to a single value", "[tsl][validator]") {
  const DataType& lat = Model().FindProperty("Position")->data_type.members[0].data_type;
  CHECK_FALSE(CheckValue(lat, json(95), Mode::kWeak, "Lat").has_value());
  const auto refusal = CheckValue(lat, json(95), Mode::kStrict, "Lat");
  REQUIRE(refusal.has_value());
  CHECK(refusal->code == codes::kBadDouble);
  CHECK(refusal->message == "Lat: 95 is above max 90");
  CHECK_FALSE(CheckValue(lat, json("x"), Mode::kNone, "Lat").has_value());
}

TEST_CASE("Validator: accepts the reference example post in weak and strict mode", "[tsl][validator]") {
  const json message = json::parse(Fixture("payloads/reference_post.json"));
  const json& params = message.at("params");
  const Mode mode = GENERATE(Mode::kWeak, Mode::kStrict);
  const Report report = Validator(&Model(), mode).PropertyPost(params, kNow + 5);
  INFO(Describe(report));
  CHECK(report.all_accepted());
  REQUIRE(report.accepted.size() == 10);
  for (const Item& item : report.accepted) {
    INFO(item.identifier);
    if (item.identifier == "TargetTemp") {
      CHECK(item.time_ms == 1700000000000);
      CHECK(*item.value == 21.5);  // unwrapped
    } else {
      CHECK(item.time_ms == kNow + 5);
      CHECK(item.value == &params.at(std::string(item.identifier)));
    }
  }
}

TEST_CASE("Validator: property post unwraps {value,time} and checks the time", "[tsl][validator]") {
  const Validator validator(&Model(), Mode::kWeak);
  SECTION("time as integer or digit string") {
    const json params = json::parse(R"({"RunCount":{"value":5,"time":1699999999000},
                                        "Humidity":{"value":1.5,"time":"1699999998000"},
                                        "PowerOn":{"value":1}})");
    const Report report = validator.PropertyPost(params, kNow);
    INFO(Describe(report));
    REQUIRE(report.accepted.size() == 3);
    CHECK(report.accepted[0].identifier == "Humidity");  // JSON objects iterate in key order
    CHECK(report.accepted[0].time_ms == 1699999998000);
    CHECK(report.accepted[1].time_ms == kNow);
    CHECK(report.accepted[2].time_ms == 1699999999000);
    CHECK(*report.accepted[2].value == 5);
  }
  SECTION("an object without a value key is the plain form") {
    const json params = json::parse(R"({"Position":{"Lat":1,"Lng":2}})");
    const Report report = validator.PropertyPost(params, kNow);
    REQUIRE(report.accepted.size() == 1);
    CHECK(report.accepted[0].value == &params["Position"]);
  }
  SECTION("bad or future times are refused with 6326") {
    const json time = GENERATE(json(1.5), json("12a"), json(-1), json(nullptr), json(true),
                               json(kNow + 24 * 3600 * 1000 + 1), json(std::to_string(kNow * 10)));
    INFO(time.dump());
    const json params{{"RunCount", {{"value", 5}, {"time", time}}}};
    const Report report = validator.PropertyPost(params, kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kBadTime);
    CHECK_THAT(report.refused[0].message, Catch::StartsWith("RunCount: time"));
    CHECK(report.refused[0].value == &params["RunCount"]["value"]);
  }
  SECTION("a time exactly 24 h ahead is still accepted") {
    const json params{{"RunCount", {{"value", 5}, {"time", kNow + 24 * 3600 * 1000}}}};
    CHECK(validator.PropertyPost(params, kNow).all_accepted());
  }
  SECTION("the time rule applies in none mode too") {
    const json params{{"Anything", {{"value", 5}, {"time", "soon"}}}};
    const Report report = Validator(nullptr, Mode::kNone).PropertyPost(params, kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kBadTime);
  }
}

TEST_CASE("Validator: unknown identifiers are refused except in none mode", "[tsl][validator]") {
  const json params = json::parse(R"({"Foo":1,"PowerOn":1})");
  SECTION("weak and strict") {
    const Mode mode = GENERATE(Mode::kWeak, Mode::kStrict);
    const Report report = Validator(&Model(), mode).PropertyPost(params, kNow);
    CHECK(report.request_ok());
    CHECK(report.accepted.size() == 1);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].identifier == "Foo");
    CHECK(report.refused[0].code == codes::kParamNotExist);
    CHECK(report.refused[0].message == "Foo: params not exist");
  }
  SECTION("none, even without a model") {
    const ThingModel* model = GENERATE(static_cast<const ThingModel*>(nullptr), &Model());
    const Report report = Validator(model, Mode::kNone).PropertyPost(params, kNow);
    CHECK(report.all_accepted());
    CHECK(report.accepted.size() == 2);
  }
}

TEST_CASE("Validator: custom module properties are addressed as module:identifier", "[tsl][validator]") {
  const json params = json::parse(R"({"testFb:temperature":21.5,"testFb:PowerOn":1,"temperature":1,
                                      "testFb:Humidity":1})");
  const Report report = Validator(&ModelWithModule(), Mode::kStrict).PropertyPost(params, kNow);
  CHECK(report.accepted.size() == 2);
  REQUIRE(report.refused.size() == 2);
  CHECK(report.refused[0].identifier == "temperature");
  CHECK(report.refused[1].identifier == "testFb:Humidity");
  const json hot{{"testFb:temperature", 130}};
  const Report refused = Validator(&ModelWithModule(), Mode::kStrict).PropertyPost(hot, kNow);
  REQUIRE(refused.refused.size() == 1);
  CHECK(refused.refused[0].message == "testFb:temperature: 130 is above max 125");
}

TEST_CASE("Validator: request-level errors are reported apart from items", "[tsl][validator]") {
  const Validator weak(&Model(), Mode::kWeak);
  SECTION("params not an object") {
    const json params = GENERATE(json::array(), json(1), json("x"), json(nullptr));
    const Report report = weak.PropertyPost(params, kNow);
    CHECK(report.code == codes::kParamError);
    CHECK_FALSE(report.message.empty());
    CHECK(report.accepted.empty());
  }
  SECTION("more than 200 items") {
    json params = json::object();
    for (int i = 0; i < 200; ++i) {
      params[std::string("p").append(std::to_string(i))] = 1;
    }
    CHECK(weak.PropertyPost(params, kNow).request_ok());
    params["p200"] = 1;
    CHECK(weak.PropertyPost(params, kNow).code == codes::kTooManyProperties);
  }
  SECTION("no published model") {
    const Mode mode = GENERATE(Mode::kWeak, Mode::kStrict);
    const Validator no_model(nullptr, mode);
    const json params{{"PowerOn", 1}};
    CHECK(no_model.PropertyPost(params, kNow).code == codes::kPropertyDefsUnavailable);
    CHECK(no_model.EventPost("LowBattery", json::object(), kNow).code == codes::kEventDefsUnavailable);
    CHECK(no_model.ServiceInput("Reboot", json::object(), kNow).code == codes::kServiceDefsUnavailable);
    CHECK(no_model.PropertySet(params, kNow).code == codes::kPropertyDefsUnavailable);
    CHECK(no_model.DesiredGet(json::array(), kNow).code == codes::kPropertyDefsUnavailable);
  }
}

TEST_CASE("Validator: a report can be reused without keeping old items", "[tsl][validator]") {
  const Validator validator(&Model(), Mode::kStrict);
  Report report;
  validator.PropertyPost(json{{"Foo", 1}}, kNow, report);
  CHECK(report.refused.size() == 1);
  validator.PropertyPost(json::array(), kNow, report);
  CHECK(report.code == codes::kParamError);
  const json params{{"PowerOn", 1}};
  validator.PropertyPost(params, kNow, report);
  CHECK(report.all_accepted());
  CHECK(report.accepted.size() == 1);
}

TEST_CASE("Validator: an event is accepted or refused as one item", "[tsl][validator]") {
  const Validator weak(&Model(), Mode::kWeak);
  const Validator strict(&Model(), Mode::kStrict);
  SECTION("wrapped form with time") {
    const json params = json::parse(R"({"value":{"Level":12,"Since":"1699990000000"},"time":1699999990000})");
    const Report report = strict.EventPost("LowBattery", params, kNow);
    INFO(Describe(report));
    REQUIRE(report.accepted.size() == 1);
    CHECK(report.accepted[0].identifier == "LowBattery");
    CHECK(report.accepted[0].value == &params["value"]);
    CHECK(report.accepted[0].time_ms == 1699999990000);
  }
  SECTION("flat outputs, some missing") {
    const json params = json::parse(R"({"Level":12})");
    const Report report = strict.EventPost("LowBattery", params, kNow);
    REQUIRE(report.accepted.size() == 1);
    CHECK(report.accepted[0].value == &params);
    CHECK(report.accepted[0].time_ms == kNow);
  }
  SECTION("a failing member refuses the whole event and is named") {
    const json params = json::parse(R"({"value":{"Level":120,"Since":"1699990000000"}})");
    CHECK(weak.EventPost("LowBattery", params, kNow).all_accepted());
    const Report report = strict.EventPost("LowBattery", params, kNow);
    CHECK(report.accepted.empty());
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].identifier == "LowBattery");
    CHECK(report.refused[0].code == codes::kBadInt);
    CHECK(report.refused[0].message == "LowBattery.Level: 120 is above max 100");
    CHECK(report.refused[0].value == &params["value"]);  // the whole event value
  }
  SECTION("a wrong type refuses the event in weak mode") {
    const json params = json::parse(R"({"Code":"sensor","Detail":"x"})");
    const Report report = weak.EventPost("Fault", params, kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kBadEnum);
    CHECK(report.refused[0].message == "Fault.Code: \"sensor\" is not an enum value (integer)");
  }
  SECTION("an unknown extra output is refused in weak and strict, accepted in none") {
    const json params = json::parse(R"({"Level":1,"Extra":2})");
    for (const Mode mode : {Mode::kWeak, Mode::kStrict}) {
      const Report report = Validator(&Model(), mode).EventPost("LowBattery", params, kNow);
      REQUIRE(report.refused.size() == 1);
      CHECK(report.refused[0].code == codes::kParamNotExist);
      CHECK(report.refused[0].message == "LowBattery.Extra: params not exist");
    }
    CHECK(Validator(&Model(), Mode::kNone).EventPost("LowBattery", params, kNow).all_accepted());
  }
  SECTION("an unknown event") {
    const Report report = weak.EventPost("Nope", json::object(), kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kParamNotExist);
    CHECK(report.refused[0].message == "Nope: params not exist");
  }
  SECTION("a custom module event") {
    const json params{{"Temp", 150.5}};
    CHECK(Validator(&ModelWithModule(), Mode::kStrict)
              .EventPost("testFb:Overheat", params, kNow)
              .all_accepted());
  }
  SECTION("a future time") {
    const json params{{"value", {{"Level", 1}}}, {"time", kNow + 2 * 24 * 3600 * 1000LL}};
    const Report report = weak.EventPost("LowBattery", params, kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kBadTime);
  }
  SECTION("params or value that is not an object") {
    CHECK(weak.EventPost("LowBattery", json::array(), kNow).code == codes::kParamError);
    CHECK(weak.EventPost("LowBattery", json{{"value", 1}}, kNow).code == codes::kParamError);
  }
}

TEST_CASE("Validator: service inputs and outputs are checked per parameter", "[tsl][validator]") {
  const Validator weak(&Model(), Mode::kWeak);
  const Validator strict(&Model(), Mode::kStrict);
  SECTION("valid input") {
    const json params{{"DelaySec", 10}};
    const Report report = strict.ServiceInput("Reboot", params, kNow);
    CHECK(report.all_accepted());
    REQUIRE(report.accepted.size() == 1);
    CHECK(report.accepted[0].identifier == "DelaySec");
  }
  SECTION("missing input: 6302 in strict, tolerated in weak") {
    CHECK(weak.ServiceInput("Reboot", json::object(), kNow).all_accepted());
    const Report report = strict.ServiceInput("Reboot", json::object(), kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].identifier == "DelaySec");
    CHECK(report.refused[0].code == codes::kMissingInput);
    CHECK(report.refused[0].message == "DelaySec: required input is missing");
    CHECK(report.refused[0].value == nullptr);
  }
  SECTION("all errors at once") {
    const json params = json::parse(R"({"DelaySec":99999,"Zzz":1,"Aaa":2})");
    const Report report = strict.ServiceInput("Reboot", params, kNow);
    INFO(Describe(report));
    REQUIRE(report.refused.size() == 3);
    CHECK(report.refused[0].identifier == "Aaa");
    CHECK(report.refused[0].code == codes::kParamNotExist);
    CHECK(report.refused[1].message == "DelaySec: 99999 is above max 3600");
    CHECK(report.refused[2].identifier == "Zzz");
  }
  SECTION("outputs of a sync service") {
    CHECK(weak.ServiceOutput("SelfTest", json{{"Passed", 1}, {"Report", "ok"}}, kNow).all_accepted());
    const Report report = weak.ServiceOutput("SelfTest", json{{"Passed", true}}, kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kBadBool);
    CHECK(strict.ServiceOutput("SelfTest", json::object(), kNow).all_accepted());
  }
  SECTION("unknown service") {
    const Report report = weak.ServiceInput("Nope", json::object(), kNow);
    CHECK(report.code == codes::kServiceNotFound);
    CHECK(report.message == "service Nope does not exist");
  }
  SECTION("the set service validates like a property set") {
    const Report report = weak.ServiceInput("set", json{{"Humidity", 1.0}, {"PowerOn", 1}}, kNow);
    CHECK(report.accepted.size() == 1);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].code == codes::kDownlinkSpecMismatch);
  }
  SECTION("none mode accepts anything") {
    CHECK(Validator(nullptr, Mode::kNone).ServiceInput("X", json{{"a", 1}}, kNow).accepted.size() == 1);
  }
  SECTION("custom module service") {
    CHECK(strict.ServiceInput("testFb:Calibrate", json::object(), kNow).code == codes::kServiceNotFound);
    const Report report = Validator(&ModelWithModule(), Mode::kStrict)
                              .ServiceInput("testFb:Calibrate", json{{"Offset", 6}}, kNow);
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].message == "Offset: 6 is above max 5");
  }
}

TEST_CASE("Validator: property set is strict and allows only writable properties", "[tsl][validator]") {
  const Validator weak(&Model(), Mode::kWeak);  // set ignores the product's mode
  const json params = json::parse(R"({"TargetTemp":40,"Humidity":50,"PowerOn":1,"Foo":1,
                                      "Zones":[{"ZoneId":1,"ZoneName":"a"}]})");
  const Report report = weak.PropertySet(params, kNow);
  INFO(Describe(report));
  REQUIRE(report.accepted.size() == 2);
  CHECK(report.accepted[0].identifier == "PowerOn");
  CHECK(report.accepted[1].identifier == "Zones");
  REQUIRE(report.refused.size() == 3);
  CHECK(report.refused[0].identifier == "Foo");
  CHECK(report.refused[0].code == codes::kParamNotExist);
  CHECK(report.refused[1].identifier == "Humidity");
  CHECK(report.refused[1].message == "Humidity: property is read-only");
  CHECK(report.refused[2].code == codes::kBadFloat);
  CHECK(report.refused[2].message == "TargetTemp: 40 is above max 35");
  CHECK(weak.PropertySet(json::array(), kNow).code == codes::kParamError);
}

TEST_CASE("Validator: desired get takes a list of identifiers", "[tsl][validator]") {
  const Validator weak(&Model(), Mode::kWeak);
  const json params = json::parse(R"(["PowerOn","Foo",3])");
  const Report report = weak.DesiredGet(params, kNow);
  REQUIRE(report.accepted.size() == 1);
  CHECK(report.accepted[0].identifier == "PowerOn");
  REQUIRE(report.refused.size() == 2);
  CHECK(report.refused[0].code == codes::kParamNotExist);
  CHECK(report.refused[1].identifier == "[2]");
  CHECK(report.refused[1].code == codes::kParamError);
  CHECK(weak.DesiredGet(json::object(), kNow).code == codes::kParamError);
  json many = json::array();
  for (int i = 0; i < 201; ++i) {
    many.push_back("PowerOn");
  }
  CHECK(weak.DesiredGet(many, kNow).code == codes::kDesiredTooMany);
  CHECK(Validator(nullptr, Mode::kNone).DesiredGet(json::parse(R"(["Foo"])"), kNow).all_accepted());
}

TEST_CASE("Validator: desired delete takes identifiers with optional versions", "[tsl][validator]") {
  const Validator weak(&Model(), Mode::kWeak);
  const json params = json::parse(
      R"({"PowerOn":{"version":1},"Label":{},"Foo":{},"TargetTemp":{"version":"x"},"FanLevel":3})");
  const Report report = weak.DesiredDelete(params, kNow);
  INFO(Describe(report));
  REQUIRE(report.accepted.size() == 2);
  CHECK(report.accepted[0].identifier == "Label");
  CHECK(report.accepted[1].identifier == "PowerOn");
  REQUIRE(report.refused.size() == 3);
  CHECK(report.refused[0].identifier == "FanLevel");
  CHECK(report.refused[0].code == codes::kParamError);
  CHECK(report.refused[1].code == codes::kParamNotExist);
  CHECK(report.refused[2].identifier == "TargetTemp");
  CHECK(weak.DesiredDelete(json::array(), kNow).code == codes::kParamError);
}

TEST_CASE("Validator: mode names round-trip", "[tsl][validator]") {
  for (const Mode mode : {Mode::kNone, Mode::kWeak, Mode::kStrict}) {
    CHECK(ParseMode(ModeName(mode)) == mode);
  }
  CHECK_FALSE(ParseMode("strong").has_value());
}

}  // namespace
}  // namespace iot::tsl

namespace iot::tsl {
namespace {

TEST_CASE("Validator: values exactly at the model's limits pass, one beyond fails in strict",
          "[tsl][validator]") {
  auto result = ParseThingModel(Fixture("valid/limits_edge.json"));
  REQUIRE(result.ok());
  const ThingModel& model = *result.model;
  const Validator strict(&model, Mode::kStrict);
  const std::string id50(50, 'A');
  json struct50 = json::object();
  for (int i = 0; i < 50; ++i) {
    struct50[(i < 10 ? "m0" : "m") + std::to_string(i)] = 1;
  }
  json text512 = json::array();
  for (int i = 0; i < 512; ++i) {
    text512.push_back("12345678");
  }
  json structs512 = json::array();
  for (int i = 0; i < 512; ++i) {
    structs512.push_back(struct50);
  }

  const json at_limit{{id50, 2147483647},
                      {"Struct50", struct50},
                      {"Enum100", -50},
                      {"Text1", "x"},
                      {"Text10240", std::string(10240, 'x')},
                      {"Array1", json::array({1.5})},
                      {"Array512", text512},
                      {"ArrayStruct", structs512},
                      {"FloatEdge", 3.4e38},
                      {"BoolLabels", 1},
                      {"Date", "0"}};
  const Report report = strict.PropertyPost(at_limit, kNow);
  INFO(Describe(report));
  CHECK(report.all_accepted());
  CHECK(report.accepted.size() == 11);

  json beyond_struct = struct50;
  beyond_struct.erase("m49");
  json beyond_text = text512;
  beyond_text.push_back("x");
  json beyond_item = text512;
  beyond_item[511] = "123456789";
  const json beyond{{id50, 2147483648LL},
                    {"Struct50", beyond_struct},
                    {"Enum100", 50},
                    {"Text1", "xx"},
                    {"Text10240", std::string(10241, 'x')},
                    {"Array1", json::array({1.5, 2.5})},
                    {"Array512", beyond_text},
                    {"FloatEdge", 3.5e38},
                    {"ArrayStruct", json::array({beyond_struct})}};
  const Report refused = strict.PropertyPost(beyond, kNow);
  INFO(Describe(refused));
  CHECK(refused.accepted.empty());
  CHECK(refused.refused.size() == beyond.size());
  const Report item = strict.PropertyPost(json{{"Array512", beyond_item}}, kNow);
  REQUIRE(item.refused.size() == 1);
  CHECK(item.refused[0].message == "Array512[511]: text of 9 bytes is longer than length 8");
}

}  // namespace
}  // namespace iot::tsl
