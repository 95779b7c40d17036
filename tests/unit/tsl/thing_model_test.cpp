#include "iot/tsl/thing_model.hpp"

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "iot/tsl/parser.hpp"

namespace iot::tsl {
namespace {

using test::Fixture;

TEST_CASE("ThingModel: finds features by identifier and by module:identifier", "[tsl][model]") {
  auto result =
      ParseThingModel(Fixture("valid/reference_example.json"), {Fixture("valid/custom_module.json")});
  REQUIRE(result.ok());
  const ThingModel model = std::move(*result.model);

  REQUIRE(model.FindProperty("PowerOn") != nullptr);
  CHECK(model.FindProperty("PowerOn")->data_type.kind == DataKind::kBool);
  REQUIRE(model.FindProperty("testFb:PowerOn") != nullptr);
  CHECK(model.FindProperty("testFb:PowerOn") != model.FindProperty("PowerOn"));
  CHECK(model.FindProperty("testFb:temperature") != nullptr);
  CHECK(model.FindProperty("temperature") == nullptr);
  CHECK(model.FindProperty("otherFb:PowerOn") == nullptr);
  CHECK(model.FindProperty("") == nullptr);

  CHECK(model.FindEvent("LowBattery") != nullptr);
  CHECK(model.FindEvent("testFb:Overheat") != nullptr);
  CHECK(model.FindEvent("post") == nullptr);  // the built-in is not a custom event
  CHECK(model.FindService("Reboot") != nullptr);
  CHECK(model.FindService("testFb:Calibrate") != nullptr);

  REQUIRE(model.FindModule("testFb") != nullptr);
  CHECK(model.FindModule("testFb")->function_block_name == "Test block");
  CHECK(model.FindModule("") == &model.default_module());
  CHECK(model.FindModule("nope") == nullptr);
}

TEST_CASE("ThingModel: indexes struct members in identifier order", "[tsl][model]") {
  const ThingModel model = test::ReferenceModel();
  const DataType& position = model.FindProperty("Position")->data_type;
  REQUIRE(position.member_order.size() == position.members.size());
  for (std::size_t i = 1; i < position.member_order.size(); ++i) {
    CHECK(position.members[position.member_order[i - 1]].identifier <
          position.members[position.member_order[i]].identifier);
  }
  const DataType& zones = model.FindProperty("Zones")->data_type;
  CHECK(zones.item->member_order.size() == 2);
}

TEST_CASE("ThingModel: stays valid when moved", "[tsl][model]") {
  ThingModel first = test::ReferenceModel();
  const Property* before = first.FindProperty("Label");
  ThingModel second = std::move(first);
  CHECK(second.FindProperty("Label") == before);
  CHECK(second.FindProperty("Label")->identifier == "Label");
}

TEST_CASE("ThingModel: names of kinds and modes round-trip", "[tsl][model]") {
  for (const auto kind :
       {DataKind::kInt, DataKind::kFloat, DataKind::kDouble, DataKind::kText, DataKind::kDate,
        DataKind::kBool, DataKind::kEnum, DataKind::kStruct, DataKind::kArray}) {
    CHECK(ParseKind(KindName(kind)) == kind);
  }
  CHECK_FALSE(ParseKind("int32").has_value());
  CHECK(AccessModeName(AccessMode::kRead) == "r");
  CHECK(EventTypeName(EventType::kAlert) == "alert");
  CHECK(CallTypeName(CallType::kSync) == "sync");
}

}  // namespace
}  // namespace iot::tsl
