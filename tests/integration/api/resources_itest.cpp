// The REST contract against the real binary and PostgreSQL: tokens and roles, audit, products,
// thing model, devices.
#include <set>

#include "iot/store/devices.hpp"
#include "iot/testing/env.hpp"
#include "rest_fixture.hpp"

using namespace iot::api::itest;

namespace {

const std::string kFixtures = IOT_FIXTURES_DIR;

}  // namespace

TEST_CASE("rest: tokens are created once, listed without values, revoked at once",
          "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  auto created = rest.Call("POST", "/tokens", json{{"name", "ops"}, {"role", "operator"}});
  REQUIRE(created.status == 201);
  json token = Json(created);
  CHECK(token["name"] == "ops");
  CHECK(token["role"] == "operator");
  CHECK(token["id"].is_string());
  CHECK(token["createdAt"].is_number_integer());
  CHECK(token["expiresAt"].is_number_integer());  // IOT_TOKEN_DEFAULT_TTL_DAYS (security_itest)
  const std::string value = token["token"];
  CHECK(value.size() > 20);

  auto list = rest.Call("GET", "/tokens");
  REQUIRE(list.status == 200);
  json items = Json(list)["items"];
  CHECK(Json(list)["nextCursor"].is_null());
  bool found = false;
  for (const auto& item : items) {
    CHECK_FALSE(item.contains("token"));
    found = found || item["id"] == token["id"];
  }
  CHECK(found);
  CHECK(list.body.find(value) == std::string::npos);

  // The operator reads but does not write.
  CHECK(rest.Call("GET", "/products", "", value).status == 200);
  CheckProblem(rest.Call("POST", "/products", json{{"name", "x"}}, value), 403);
  CheckProblem(rest.Call("GET", "/tokens", "", value), 403);

  CHECK(rest.Call("DELETE", "/tokens/" + token["id"].get<std::string>()).status == 204);
  CheckProblem(rest.Call("GET", "/products", "", value), 401);
  CheckProblem(rest.Call("DELETE", "/tokens/999999"), 404);
  CheckProblem(rest.Call("DELETE", "/tokens/abc"), 404);

  // Bad bodies: every problem at once.
  auto bad = rest.Call("POST", "/tokens", json{{"role", "root"}, {"extra", 1}, {"expiresAt", "soon"}});
  CheckProblem(bad, 400);
  std::set<std::string> paths;
  for (const auto& e : json(Json(bad)["errors"])) {
    paths.insert(e["path"].get<std::string>());
  }
  CHECK(paths == std::set<std::string>{"/name", "/role", "/extra", "/expiresAt"});
}

TEST_CASE("rest: roles - 401 without or with an unknown token, viewer cannot write, expired token fails",
          "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  rest.Product("roles001");
  CheckProblem(rest.Call("GET", "/products", "", ""), 401);
  CheckProblem(rest.Call("GET", "/products", "", "not-a-real-token-at-all"), 401);
  const std::string viewer = rest.Token("viewer-1", "viewer");
  CHECK(rest.Call("GET", "/products/roles001", "", viewer).status == 200);
  CheckProblem(rest.Call("POST", "/products", json{{"name", "x"}}, viewer), 403);
  CheckProblem(rest.Call("PATCH", "/products/roles001", json{{"name", "y"}}, viewer), 403);
  CheckProblem(rest.Call("DELETE", "/products/roles001", "", viewer), 403);
  CheckProblem(rest.Call("POST", "/products/roles001/devices", json::object(), viewer), 403);
  CheckProblem(rest.Call("PUT", "/products/roles001/thing-model", json::object(), viewer), 403);
  CheckProblem(rest.Call("POST", "/products/roles001/thing-model/publish", "", viewer), 403);
  CheckProblem(rest.Call("GET", "/audit", "", viewer), 403);
  CHECK(Json(rest.Call("GET", "/products/roles001", "", kAdminToken))["name"] == "P roles001");

  // Expiry: a token whose expiresAt passes stops working without any other action.
  auto r =
      rest.Call("POST", "/tokens", json{{"name", "short"}, {"role", "admin"}, {"expiresAt", NowMs() + 1500}});
  REQUIRE(r.status == 201);
  const std::string short_lived = Json(r)["token"];
  CHECK(rest.Call("GET", "/tokens", "", short_lived).status == 200);
  CHECK(iot::testing::PollUntil([&] { return rest.Call("GET", "/tokens", "", short_lived).status == 401; },
                                std::chrono::seconds(5), std::chrono::milliseconds(100)));
  auto past =
      rest.Call("POST", "/tokens", json{{"name", "past"}, {"role", "admin"}, {"expiresAt", NowMs() - 1000}});
  REQUIRE(past.status == 201);
  CheckProblem(rest.Call("GET", "/tokens", "", Json(past)["token"].get<std::string>()), 401);
}

TEST_CASE("rest: products - create, list, get, patch, delete, conflicts and validation",
          "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  auto created = rest.Call("POST", "/products",
                           json{{"name", "Lamp"},
                                {"productKey", "lamp0001"},
                                {"nodeType", "gateway"},
                                {"validation", "strict"},
                                {"retentionDays", 7},
                                {"description", "d"}});
  REQUIRE(created.status == 201);
  json p = Json(created);
  CHECK(p == json{{"productKey", "lamp0001"},
                  {"name", "Lamp"},
                  {"nodeType", "gateway"},
                  {"validation", "strict"},
                  {"retentionDays", 7},
                  {"description", "d"},
                  {"timestampWindowS", 0},
                  {"createdAt", p["createdAt"]},
                  {"thingModelVersion", nullptr},
                  {"deviceCount", 0},
                  {"dataFormat", "alink"},
                  {"scriptUpdatedAt", nullptr},
                  {"dynamicRegistration", false},
                  {"remoteConfig", false},
                  {"productSecret", p["productSecret"]}});
  CHECK(p["productSecret"].get<std::string>().size() == 16);
  CHECK(p["createdAt"].get<std::int64_t>() > NowMs() - 60000);

  auto generated = rest.Call("POST", "/products", json{{"name", "Auto"}});
  REQUIRE(generated.status == 201);
  json g = Json(generated);
  CHECK(g["productKey"].get<std::string>().size() == 11);
  CHECK(g["nodeType"] == "device");
  CHECK(g["validation"] == "weak");
  CHECK(g["retentionDays"] == 30);
  CHECK(g["description"] == "");

  CheckProblem(rest.Call("POST", "/products", json{{"name", "Dup"}, {"productKey", "lamp0001"}}), 409);
  for (const char* key : {"abc", "has-dash1", "way-too-long-product-key-0123456789", "ключ1234"}) {
    INFO(key);
    auto bad = rest.Call("POST", "/products", json{{"name", "x"}, {"productKey", key}});
    CheckProblem(bad, 400);
    CHECK(Json(bad)["errors"][0]["path"] == "/productKey");
  }
  auto bad =
      rest.Call("POST", "/products", json{{"nodeType", "hub"}, {"retentionDays", "7"}, {"colour", "red"}});
  CheckProblem(bad, 400);
  CHECK(Json(bad)["errors"].size() == 4);  // name missing, nodeType, retentionDays, colour
  CheckProblem(rest.Call("POST", "/products", R"({"name": "x",)"), 400);
  CheckProblem(rest.Call("POST", "/products", R"({"name": "x"})", kAdminToken, "text/plain"), 415);
  CheckProblem(rest.Call("POST", "/products", json::array({1, 2})), 400);

  auto list = rest.Call("GET", "/products?limit=1");
  REQUIRE(list.status == 200);
  json page1 = Json(list);
  REQUIRE(page1["items"].size() == 1);
  REQUIRE(page1["nextCursor"].is_string());
  json page2 = Json(rest.Call("GET", "/products?limit=1&cursor=" + page1["nextCursor"].get<std::string>()));
  REQUIRE(page2["items"].size() == 1);
  CHECK(page2["items"][0]["productKey"] != page1["items"][0]["productKey"]);
  CHECK(page2["nextCursor"].is_null());
  CheckProblem(rest.Call("GET", "/products?limit=1001"), 400);
  CheckProblem(rest.Call("GET", "/products?limit=0"), 400);
  CheckProblem(rest.Call("GET", "/products?cursor=garbage!"), 400);
  CHECK(rest.Call("GET", "/products?limit=1000").status == 200);

  CHECK(Json(rest.Call("GET", "/products/lamp0001")) == p);
  CheckProblem(rest.Call("GET", "/products/nope0000"), 404);

  auto patched = rest.Call("PATCH", "/products/lamp0001",
                           json{{"name", "Lamp 2"}, {"validation", "none"}, {"retentionDays", 90}});
  REQUIRE(patched.status == 200);
  CHECK(Json(patched)["name"] == "Lamp 2");
  CHECK(Json(patched)["validation"] == "none");
  CHECK(Json(patched)["retentionDays"] == 90);
  CHECK(Json(patched)["description"] == "d");
  // Device passwords' timestamp window (README "Security"): set, kept by other patches, cleared with 0.
  auto window = rest.Call("PATCH", "/products/lamp0001", json{{"timestampWindowS", 300}});
  REQUIRE(window.status == 200);
  CHECK(Json(window)["timestampWindowS"] == 300);
  CHECK(Json(rest.Call("PATCH", "/products/lamp0001", json{{"name", "Lamp 3"}}))["timestampWindowS"] == 300);
  CHECK(Json(rest.Call("PATCH", "/products/lamp0001", json{{"timestampWindowS", 0}}))["timestampWindowS"] ==
        0);
  CheckProblem(rest.Call("PATCH", "/products/lamp0001", json{{"timestampWindowS", 86401}}), 400);
  CheckProblem(rest.Call("PATCH", "/products/lamp0001", json{{"timestampWindowS", -1}}), 400);
  auto with_window = rest.Call("POST", "/products", json{{"name", "Timed"}, {"timestampWindowS", 60}});
  REQUIRE(with_window.status == 201);
  CHECK(Json(with_window)["timestampWindowS"] == 60);
  CheckProblem(rest.Call("PATCH", "/products/lamp0001", json{{"nodeType", "device"}}), 400);
  CheckProblem(rest.Call("PATCH", "/products/lamp0001", json{{"retentionDays", 0}}), 400);
  CheckProblem(rest.Call("PATCH", "/products/nope0000", json{{"name", "n"}}), 404);

  rest.Device("lamp0001", "dev-0001");
  CHECK(Json(rest.Call("GET", "/products/lamp0001"))["deviceCount"] == 1);
  CheckProblem(rest.Call("DELETE", "/products/lamp0001"), 409);
  CHECK(rest.Call("DELETE", "/products/lamp0001/devices/dev-0001").status == 204);
  CHECK(rest.Call("DELETE", "/products/lamp0001").status == 204);
  CheckProblem(rest.Call("GET", "/products/lamp0001"), 404);
  CheckProblem(rest.Call("DELETE", "/products/lamp0001"), 404);
}

TEST_CASE("rest: audit records every change with the token's name and time", "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  const std::int64_t before = NowMs() - 5000;
  const std::string admin2 = rest.Token("second-admin", "admin");
  auto r = rest.Call("POST", "/products", json{{"name", "A"}, {"productKey", "audit001"}}, admin2);
  REQUIRE(r.status == 201);
  rest.Device("audit001", "dev-a");
  REQUIRE(rest.Call("PATCH", "/products/audit001/devices/dev-a", json{{"enabled", false}}).status == 200);
  REQUIRE(rest.Call("DELETE", "/products/audit001/devices/dev-a", "", admin2).status == 204);

  auto list = rest.Call("GET", "/audit?limit=1000");
  REQUIRE(list.status == 200);
  json items = Json(list)["items"];
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& e : items) {
    CHECK(e["time"].get<std::int64_t>() >= before);
    seen.emplace_back(e["actor"], e["action"]);
  }
  // Newest first.
  REQUIRE(seen.size() == 5);
  CHECK(seen[0] == std::pair<std::string, std::string>{"second-admin", "device.delete"});
  CHECK(seen[1] == std::pair<std::string, std::string>{"bootstrap-admin", "device.disable"});
  CHECK(seen[2] == std::pair<std::string, std::string>{"bootstrap-admin", "device.create"});
  CHECK(seen[3] == std::pair<std::string, std::string>{"second-admin", "product.create"});
  CHECK(seen[4] == std::pair<std::string, std::string>{"bootstrap-admin", "token.create"});
  CHECK(items[0]["target"] == "audit001/dev-a");

  // Paging and time range.
  json page = Json(rest.Call("GET", "/audit?limit=2"));
  CHECK(page["items"].size() == 2);
  REQUIRE(page["nextCursor"].is_string());
  json rest_page = Json(rest.Call("GET", "/audit?limit=10&cursor=" + page["nextCursor"].get<std::string>()));
  CHECK(rest_page["items"].size() == 3);
  CHECK(Json(rest.Call("GET", "/audit?to=" + std::to_string(before)))["items"].empty());
  CheckProblem(rest.Call("GET", "/audit?from=yesterday"), 400);
}

TEST_CASE("rest: thing model with every data type round-trips through PUT, publish and GET",
          "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  rest.Product("tsl00001");
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model"), 404);
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model?version=draft"), 404);
  CheckProblem(rest.Call("POST", "/products/tsl00001/thing-model/publish"), 409);

  json doc = json::parse(ReadText(kFixtures + "/tsl/valid/reference_example.json"));
  // Another product's key (a model exported from Alibaba's console) is replaced, and the answer says so.
  auto exported = rest.Call("PUT", "/products/tsl00001/thing-model", doc);
  REQUIRE(exported.status == 200);
  CHECK(Json(exported)["tsl"]["profile"]["productKey"] == "tsl00001");
  REQUIRE(Json(exported)["notices"].size() == 1);
  CHECK(Json(exported)["notices"][0]["path"] == "/profile/productKey");
  doc["profile"].erase("productKey");
  auto put = rest.Call("PUT", "/products/tsl00001/thing-model", doc);
  REQUIRE(put.status == 200);
  json draft = Json(put);
  CHECK(draft["version"] == "draft");
  json tsl = draft["tsl"];
  CHECK(tsl["profile"]["productKey"] == "tsl00001");
  std::set<std::string> kinds;
  for (const auto& p : tsl["properties"]) {
    kinds.insert(p["dataType"]["type"].get<std::string>());
  }
  CHECK(kinds ==
        std::set<std::string>{"int", "float", "double", "text", "date", "bool", "enum", "struct", "array"});
  CHECK(Json(rest.Call("GET", "/products/tsl00001/thing-model?version=draft")) == tsl);
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model"), 404);  // nothing published yet

  auto published =
      rest.Call("POST", "/products/tsl00001/thing-model/publish", json{{"description", "first"}});
  REQUIRE(published.status == 201);
  CHECK(Json(published)["version"] == 1);
  CHECK(Json(published)["publishedAt"].is_number_integer());
  json latest = Json(rest.Call("GET", "/products/tsl00001/thing-model"));
  CHECK(latest == tsl);
  CHECK(Json(rest.Call("GET", "/products/tsl00001/thing-model?version=1")) == tsl);
  CHECK(Json(rest.Call("GET", "/products/tsl00001/thing-model?version=latest")) == tsl);
  // Built-ins are present.
  std::set<std::string> events, services;
  for (const auto& e : latest["events"]) {
    events.insert(e["identifier"].get<std::string>());
  }
  for (const auto& s : latest["services"]) {
    services.insert(s["identifier"].get<std::string>());
  }
  CHECK(events.contains("post"));
  CHECK(services.contains("set"));
  CHECK(services.contains("get"));
  // The product reports the version.
  CHECK(Json(rest.Call("GET", "/products/tsl00001"))["thingModelVersion"] == 1);

  // A custom module, then version 2.
  json custom = {
      {"properties",
       json::array({{{"identifier", "Speed"},
                     {"name", "Speed"},
                     {"accessMode", "r"},
                     {"required", false},
                     {"dataType", {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "100"}}}}}}})}};
  auto put_custom = rest.Call("PUT", "/products/tsl00001/thing-model?functionBlockId=motor", custom);
  REQUIRE(put_custom.status == 200);
  CHECK(Json(put_custom)["tsl"]["functionBlockId"] == "motor");
  CheckProblem(rest.Call("PUT", "/products/tsl00001/thing-model?functionBlockId=bad-id!", custom), 400);
  REQUIRE(rest.Call("POST", "/products/tsl00001/thing-model/publish").status == 201);
  CHECK(Json(rest.Call("GET", "/products/tsl00001/thing-model?functionBlockId=motor"))["functionBlockId"] ==
        "motor");
  CHECK(Json(rest.Call("GET", "/products/tsl00001/thing-model?version=2")) == tsl);
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model?version=1&functionBlockId=motor"), 404);
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model?version=3"), 404);
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model?version=two"), 400);
  CheckProblem(rest.Call("GET", "/products/tsl00001/thing-model?version=0"), 400);

  auto versions = rest.Call("GET", "/products/tsl00001/thing-model/versions");
  REQUIRE(versions.status == 200);
  json v = Json(versions);
  REQUIRE(v["items"].size() == 2);
  CHECK(v["nextCursor"].is_null());
  CHECK(v["items"][0]["version"] == 2);
  CHECK(v["items"][1]["version"] == 1);
  CHECK(v["items"][1]["description"] == "first");
  json first_page = Json(rest.Call("GET", "/products/tsl00001/thing-model/versions?limit=1"));
  REQUIRE(first_page["nextCursor"].is_string());
  json second_page = Json(rest.Call("GET", "/products/tsl00001/thing-model/versions?limit=1&cursor=" +
                                               first_page["nextCursor"].get<std::string>()));
  CHECK(second_page["items"][0]["version"] == 1);
  CheckProblem(rest.Call("GET", "/products/nope0000/thing-model/versions"), 404);
  CheckProblem(rest.Call("PUT", "/products/nope0000/thing-model", json::object()), 404);
}

TEST_CASE("rest: a bad thing model gets 400 with every problem as a JSON pointer",
          "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  rest.Product("tslbad01");
  json bad = {
      {"properties", json::array({{{"identifier", "1bad id"},
                                   {"name", "x"},
                                   {"accessMode", "rw"},
                                   {"dataType", {{"type", "int"}, {"specs", {{"min", "10"}, {"max", "1"}}}}}},
                                  {{"identifier", "Ok"},
                                   {"name", "ok"},
                                   {"accessMode", "sometimes"},
                                   {"dataType", {{"type", "nonsense"}}}}})},
      {"profile", {{"productKey", "someoneElse"}}}};
  auto r = rest.Call("PUT", "/products/tslbad01/thing-model", bad);
  CheckProblem(r, 400);
  std::set<std::string> paths;
  for (const auto& e : json(Json(r)["errors"])) {
    CHECK(e["message"].is_string());
    paths.insert(e["path"].get<std::string>());
  }
  INFO(r.body);
  CHECK_FALSE(paths.contains("/profile/productKey"));  // another product's key is replaced, not refused
  CHECK(paths.size() >= 3);
  for (const auto& p : paths) {
    CHECK((p.empty() || p[0] == '/'));
  }
  CheckProblem(rest.Call("PUT", "/products/tslbad01/thing-model", "[1,2]"), 400);
  CheckProblem(rest.Call("PUT", "/products/tslbad01/thing-model", "{\"properties\": ["), 400);
  // Nothing was stored.
  CheckProblem(rest.Call("GET", "/products/tslbad01/thing-model?version=draft"), 404);
}

TEST_CASE("rest: devices - register, batch all or nothing, filters, paging, get, patch, delete",
          "[integration][api][rest]") {
  Rest rest;
  INFO(rest.api.Log());
  rest.Product("devp0001");
  auto created = rest.Call("POST", "/products/devp0001/devices",
                           json{{"deviceName", "lamp-1@home.x:y_z"}, {"nickname", "Kitchen"}});
  REQUIRE(created.status == 201);
  json d = Json(created);
  CHECK(d["deviceSecret"].get<std::string>().size() == 32);
  CHECK(d["status"] == "unactive");
  CHECK(d["enabled"] == true);
  CHECK(d["tags"] == json::object());
  CHECK(d["nickname"] == "Kitchen");
  for (const char* k : {"activatedAt", "lastOnlineAt", "lastOfflineAt", "ipAddress"}) {
    CHECK(d[k].is_null());
  }
  CheckProblem(rest.Call("POST", "/products/devp0001/devices", json{{"deviceName", "lamp-1@home.x:y_z"}}),
               409);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices", json{{"deviceName", "abc"}}), 400);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices", json{{"deviceName", "bad/name"}}), 400);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices", json{{"deviceName", 5}, {"x", 1}}), 400);
  CheckProblem(rest.Call("POST", "/products/nope0000/devices", json::object()), 404);
  auto generated = rest.Call("POST", "/products/devp0001/devices", json::object());
  REQUIRE(generated.status == 201);
  const std::string generated_name = Json(generated)["deviceName"];
  CHECK(generated_name.size() >= 4);

  auto batch = rest.Call("POST", "/products/devp0001/devices:batch", json{{"count", 5}});
  REQUIRE(batch.status == 201);
  CHECK(Json(batch)["items"].size() == 5);
  for (const auto& item : json(Json(batch)["items"])) {
    CHECK(item.contains("deviceSecret"));
  }
  auto named =
      rest.Call("POST", "/products/devp0001/devices:batch", json{{"deviceNames", {"n-0001", "n-0002"}}});
  REQUIRE(named.status == 201);
  // All or nothing: one existing name and nothing is created.
  CheckProblem(
      rest.Call("POST", "/products/devp0001/devices:batch", json{{"deviceNames", {"n-0003", "n-0001"}}}),
      409);
  CheckProblem(rest.Call("GET", "/products/devp0001/devices/n-0003"), 404);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices:batch", json{{"count", 1001}}), 400);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices:batch", json{{"count", 0}}), 400);
  CheckProblem(
      rest.Call("POST", "/products/devp0001/devices:batch", json{{"count", 2}, {"deviceNames", {"n-0009"}}}),
      400);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices:batch", json::object()), 400);
  CheckProblem(
      rest.Call("POST", "/products/devp0001/devices:batch", json{{"deviceNames", {"n-0010", "n-0010"}}}),
      400);
  CheckProblem(rest.Call("POST", "/products/devp0001/devices:batch", json{{"deviceNames", {"ok-name", "x"}}}),
               400);
  CHECK(Json(rest.Call("GET", "/products/devp0001"))["deviceCount"] == 9);

  // Get: the secret for admin only.
  const std::string viewer = rest.Token("viewer", "viewer");
  json as_admin = Json(rest.Call("GET", "/products/devp0001/devices/lamp-1@home.x:y_z"));
  CHECK(as_admin["deviceSecret"] == d["deviceSecret"]);
  json as_viewer = Json(rest.Call("GET", "/products/devp0001/devices/lamp-1@home.x:y_z", "", viewer));
  CHECK_FALSE(as_viewer.contains("deviceSecret"));
  CheckProblem(rest.Call("GET", "/products/devp0001/devices/none-such"), 404);

  // Patch: nickname and disable.
  auto patched =
      rest.Call("PATCH", "/products/devp0001/devices/n-0001", json{{"nickname", "Hall"}, {"enabled", false}});
  REQUIRE(patched.status == 200);
  CHECK(Json(patched)["status"] == "disabled");
  CHECK(Json(patched)["enabled"] == false);
  CHECK(Json(patched)["nickname"] == "Hall");
  CheckProblem(rest.Call("PATCH", "/products/devp0001/devices/n-0001", json{{"enabled", "no"}}), 400);
  CheckProblem(rest.Call("PATCH", "/products/devp0001/devices/n-0009", json{{"enabled", true}}), 404);

  // Tags come from the device (thing.deviceinfo.update): set them through the store.
  auto device = iot::store::GetDevice(rest.db, "devp0001", "n-0002");
  REQUIRE(device.has_value());
  REQUIRE(iot::store::UpdateDeviceTags(rest.db, device->id, {{"room", "attic"}, {"floor", "2"}}).has_value());

  auto names = [&](const std::string& query) {
    auto r = rest.Call("GET", "/products/devp0001/devices" + query);
    INFO(query << " " << r.body);
    REQUIRE(r.status == 200);
    std::set<std::string> out;
    for (const auto& item : json(Json(r)["items"])) {
      CHECK_FALSE(item.contains("deviceSecret"));
      out.insert(item["deviceName"].get<std::string>());
    }
    return out;
  };
  CHECK(names("?status=disabled") == std::set<std::string>{"n-0001"});
  CHECK(names("?status=unactive").size() == 8);
  CHECK(names("?status=online").empty());
  CHECK(names("?search=KITCH") == std::set<std::string>{"lamp-1@home.x:y_z"});
  CHECK(names("?search=n-000") == std::set<std::string>{"n-0001", "n-0002"});
  CHECK(names("?search=%25").empty());  // % is literal
  CHECK(names("?tag=room:attic") == std::set<std::string>{"n-0002"});
  CHECK(names("?tag=room:cellar").empty());
  CheckProblem(rest.Call("GET", "/products/devp0001/devices?status=broken"), 400);
  CheckProblem(rest.Call("GET", "/products/devp0001/devices?tag=novalue"), 400);
  CheckProblem(rest.Call("GET", "/products/nope0000/devices"), 404);
  json tagged = Json(rest.Call("GET", "/products/devp0001/devices/n-0002"));
  CHECK(tagged["tags"] == json{{"room", "attic"}, {"floor", "2"}});

  // Paging: 9 devices in pages of 4, no duplicates or gaps.
  std::set<std::string> all;
  std::string cursor;
  int pages = 0;
  do {
    auto r =
        rest.Call("GET", "/products/devp0001/devices?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    json page = Json(r);
    for (const auto& item : page["items"]) {
      CHECK(all.insert(item["deviceName"].get<std::string>()).second);
    }
    cursor = page["nextCursor"].is_string() ? page["nextCursor"].get<std::string>() : "";
    ++pages;
  } while (!cursor.empty());
  CHECK(all.size() == 9);
  CHECK(pages == 3);

  CHECK(rest.Call("DELETE", "/products/devp0001/devices/" + generated_name).status == 204);
  CheckProblem(rest.Call("DELETE", "/products/devp0001/devices/" + generated_name), 404);
  CheckProblem(rest.Call("GET", "/products/devp0001/devices/" + generated_name), 404);
}

TEST_CASE("rest: a database with a newer schema is refused at start with a clear message",
          "[integration][api][rest]") {
  iot::testing::PgDatabase pg;
  {
    ApiProcess first({}, pg.Dsn());  // migrates
    REQUIRE(first.Process().Stop() != -1);
  }
  REQUIRE(iot::testing::RunShell(
              "psql '" + pg.Dsn() +
              "' -qc \"INSERT INTO schema_version (version, name) VALUES (9999, '9999_future.sql')\"") == 0);
  const std::string dir = iot::testing::RequireEnv("IOT_TEST_TMP");
  const std::string log = dir + "/iot-api-newer-" + std::to_string(::getpid()) + ".log";
  const int status = iot::testing::RunShell(
      "IOT_HTTP_PORT=0 IOT_PG_DSN='" + pg.Dsn() + "' '" + std::string(IOT_API_BINARY) + "'", log);
  CHECK(status != 0);
  const std::string text = ReadText(log);
  INFO(text);
  CHECK(text.find("9999") != std::string::npos);
}

TEST_CASE(
    "rest: readiness probes PostgreSQL and the broker, metrics show the DB pool, maintenance runs at start",
    "[integration][api][rest]") {
  const int closed_port = iot::testing::FreePort();  // nothing listens there
  Rest rest(Env{{"IOT_MQTT_HOST", "127.0.0.1"},
                {"IOT_MQTT_PORT", std::to_string(closed_port)},
                {"IOT_PG_POOL_THREADS", "3"}});
  INFO(rest.api.Log());
  HttpResponse ready;
  // Each probe reports on its own schedule ("not checked yet" before its first run): wait until
  // PostgreSQL has passed and only the broker fails.
  CHECK(iot::testing::PollUntil([&] {
    ready = iot::testing::HttpRequest(rest.api.OpsPort(), "GET", "/readyz");
    return ready.status == 503 && ready.body.find("mqtt-broker") != std::string::npos &&
           ready.body.find("postgresql") == std::string::npos;
  }));
  json body = Json(ready);
  CHECK(body["status"] == "not ready");
  REQUIRE(body["failed"].size() == 1);  // PostgreSQL is fine
  CHECK(body["failed"][0]["name"] == "mqtt-broker");

  auto metrics = iot::testing::HttpRequest(rest.api.OpsPort(), "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("iot_db_pool_threads 3") != std::string::npos);
  CHECK(metrics.body.find("iot_db_pool_queue_depth") != std::string::npos);
  CHECK(metrics.body.find("iot_db_pool_connected") != std::string::npos);
  // Daily partitions are created at start (EnsurePartitions), off the I/O threads.
  CHECK(iot::testing::PollUntil([&] { return rest.api.Process().LogContains("partitions created"); }));

  // The broker that tests/run.sh started is reachable: ready.
  const std::string host = iot::testing::RequireEnv("IOT_TEST_MQTT_HOST");
  const std::string port = iot::testing::RequireEnv("IOT_TEST_MQTT_PORT");
  Rest with_broker(Env{{"IOT_MQTT_HOST", host}, {"IOT_MQTT_PORT", port}});
  INFO(with_broker.api.Log());
  CHECK(iot::testing::PollUntil([&] { return with_broker.client.Request("GET", "/readyz").status == 200; }));
}
