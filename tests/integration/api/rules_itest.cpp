// Forwarding rules over REST against the real binary and PostgreSQL: create, read, change, delete,
// validation (the filter's parse error with its column, kinds not forwarded yet, destinations),
// secrets never answered, roles, status and dead letters (seeded through the store as a forwarder
// would leave them).
#include <pqxx/pqxx>

#include "iot/store/forwarding.hpp"
#include "iot/testing/env.hpp"
#include "rest_fixture.hpp"

using namespace iot::api::itest;

namespace {

json NewRule(const std::string& filter = "Temp > 40 && Humidity < 20") {
  return json{
      {"name", "hot and dry"},
      {"source", {{"productKey", "fwdProd1"}, {"kinds", {"property", "event"}}}},
      {"filter", filter},
      {"destinations",
       json::array({{{"type", "webhook"}, {"url", "https://apps.example/hook"}, {"secret", "s3cret"}}})}};
}

}  // namespace

TEST_CASE("rest: forwarding rules - create, list, get, patch, delete - secrets are never answered",
          "[integration][api][rest][rules]") {
  Rest rest;
  INFO(rest.api.Log());
  auto created = rest.Call("POST", "/rules", NewRule());
  REQUIRE(created.status == 201);
  json rule = Json(created);
  const std::string id = std::to_string(rule["id"].get<std::int64_t>());
  CHECK(rule["name"] == "hot and dry");
  CHECK(rule["enabled"] == true);
  CHECK(rule["source"] == json{{"productKey", "fwdProd1"}, {"kinds", {"property", "event"}}});
  CHECK(rule["filter"] == "Temp > 40 && Humidity < 20");
  CHECK(rule["destinations"] ==
        json::array({{{"type", "webhook"}, {"url", "https://apps.example/hook"}, {"hasSecret", true}}}));
  CHECK(created.body.find("s3cret") == std::string::npos);

  auto listed = rest.Call("GET", "/rules");
  REQUIRE(listed.status == 200);
  CHECK(Json(listed)["items"].size() == 1);
  CHECK(listed.body.find("s3cret") == std::string::npos);
  CHECK(Json(rest.Call("GET", "/rules/" + id)) == rule);

  auto patched = rest.Call("PATCH", "/rules/" + id, json{{"enabled", false}, {"filter", nullptr}});
  REQUIRE(patched.status == 200);
  CHECK(Json(patched)["enabled"] == false);
  CHECK(Json(patched)["filter"].is_null());
  CHECK(Json(patched)["destinations"][0]["hasSecret"] == true);  // untouched

  auto status = rest.Call("GET", "/rules/" + id + "/status");
  REQUIRE(status.status == 200);
  CHECK(Json(status)["delivered"] == 0);
  CHECK(Json(status)["lagMessages"] == 0);
  CHECK(Json(status)["lastError"].is_null());

  // Only admins.
  const std::string viewer = rest.Token("viewer", "viewer");
  CheckProblem(rest.Call("GET", "/rules", "", viewer), 403);
  CheckProblem(rest.Call("POST", "/rules", NewRule().dump(), rest.Token("op", "operator")), 403);

  REQUIRE(rest.Call("DELETE", "/rules/" + id).status == 204);
  CheckProblem(rest.Call("GET", "/rules/" + id), 404);
  CheckProblem(rest.Call("DELETE", "/rules/" + id), 404);
  CheckProblem(rest.Call("GET", "/rules/abc"), 404);
  CheckProblem(rest.Call("GET", "/rules/" + id + "/status"), 404);
}

TEST_CASE("rest: forwarding rules - invalid filters, kinds and destinations are 400 naming the problem",
          "[integration][api][rest][rules]") {
  Rest rest;
  INFO(rest.api.Log());
  auto bad_filter = rest.Call("POST", "/rules", NewRule("Temp > 40 &&"));
  CheckProblem(bad_filter, 400);
  CHECK(Json(bad_filter)["detail"] == "filter: column 13: expected an operand, found the end of text");
  CHECK(Json(bad_filter)["errors"][0]["path"] == "/filter");
  CheckProblem(rest.Call("POST", "/rules", NewRule("Temp = 1")), 400);

  json unknown_kind = NewRule();
  unknown_kind["source"]["kinds"] = {"property", "topology"};
  auto r = rest.Call("POST", "/rules", unknown_kind);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/source/kinds/1");
  // Lifecycle messages are written by the database, which evaluates no filter.
  json lifecycle = NewRule("Temp > 1");
  lifecycle["source"]["kinds"] = {"lifecycle"};
  r = rest.Call("POST", "/rules", lifecycle);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/filter");
  lifecycle.erase("filter");
  lifecycle["includeDeviceSecret"] = "yes";
  CheckProblem(rest.Call("POST", "/rules", lifecycle), 400);
  lifecycle["includeDeviceSecret"] = true;
  r = rest.Call("POST", "/rules", lifecycle);
  REQUIRE(r.status == 201);
  CHECK(Json(r)["includeDeviceSecret"] == true);
  const std::string lifecycle_id = std::to_string(Json(r)["id"].get<std::int64_t>());
  CHECK(Json(rest.Call("PATCH", "/rules/" + lifecycle_id,
                       R"({"includeDeviceSecret":false})"))["includeDeviceSecret"] == false);
  REQUIRE(rest.Call("DELETE", "/rules/" + lifecycle_id).status == 204);

  json amqp = NewRule();
  amqp["destinations"] = json::array({{{"type", "amqp"}, {"url", "http://x"}, {"exchange", "e"}}});
  r = rest.Call("POST", "/rules", amqp);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/url");
  amqp["destinations"] = json::array({{{"type", "amqp"}, {"url", "amqp://x"}}});
  r = rest.Call("POST", "/rules", amqp);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/exchange");
  json mqtt = NewRule();
  mqtt["destinations"] = json::array({{{"type", "mqtt"}, {"url", "mqtt://broker"}, {"topic", "app/+/data"}}});
  r = rest.Call("POST", "/rules", mqtt);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/topic");
  mqtt["destinations"] = json::array({{{"type", "mqtt"}, {"url", "https://broker"}, {"topic", "app/data"}}});
  r = rest.Call("POST", "/rules", mqtt);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/url");

  // A destination's own CA: PEM certificates, for a TLS URL of AMQP and MQTT only; answered back.
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  json ca = NewRule();
  ca["destinations"] =
      json::array({{{"type", "mqtt"}, {"url", "mqtt://broker"}, {"topic", "app/data"}, {"ca", pem}}});
  r = rest.Call("POST", "/rules", ca);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/ca");
  ca["destinations"][0]["url"] = "mqtts://broker:8883";
  ca["destinations"][0]["ca"] = "not a certificate";
  r = rest.Call("POST", "/rules", ca);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/ca");
  ca["destinations"] = json::array({{{"type", "webhook"}, {"url", "https://apps.example/iot"}, {"ca", pem}}});
  r = rest.Call("POST", "/rules", ca);
  CheckProblem(r, 400);
  CHECK(Json(r)["errors"][0]["path"] == "/destinations/0/ca");
  ca["destinations"] =
      json::array({{{"type", "amqp"}, {"url", "amqps://mq.example/prod"}, {"exchange", "iot"}, {"ca", pem}}});
  r = rest.Call("POST", "/rules", ca);
  REQUIRE(r.status == 201);
  CHECK(Json(r)["destinations"][0]["ca"] == pem);
  REQUIRE(rest.Call("DELETE", "/rules/" + std::to_string(Json(r)["id"].get<std::int64_t>())).status == 204);

  json no_url = NewRule();
  no_url["destinations"] = json::array({{{"type", "webhook"}, {"url", "ftp://x"}}});
  CheckProblem(rest.Call("POST", "/rules", no_url), 400);
  json empty = NewRule();
  empty["destinations"] = json::array();
  CheckProblem(rest.Call("POST", "/rules", empty), 400);
  json unknown = NewRule();
  unknown["colour"] = "red";
  CheckProblem(rest.Call("POST", "/rules", unknown), 400);
  CheckProblem(rest.Call("POST", "/rules", "{oops"), 400);
  CHECK(Json(rest.Call("GET", "/rules"))["items"].empty());

  // AMQP and MQTT destinations: their passwords (in the AMQP URL, the MQTT password) are never answered.
  json both = NewRule();
  both["destinations"] = json::array(
      {{{"type", "amqp"}, {"url", "amqp://app:amqp-pass@mq.example:5672/prod"}, {"exchange", "iot"}},
       {{"type", "mqtt"},
        {"url", "mqtts://broker.example:8883"},
        {"topic", "app/telemetry"},
        {"username", "app"},
        {"password", "mqtt-pass"}}});
  auto created = rest.Call("POST", "/rules", both);
  REQUIRE(created.status == 201);
  CHECK(created.body.find("amqp-pass") == std::string::npos);
  CHECK(created.body.find("mqtt-pass") == std::string::npos);
  CHECK(Json(created)["destinations"] == json::array({{{"type", "amqp"},
                                                       {"url", "amqp://app@mq.example:5672/prod"},
                                                       {"exchange", "iot"},
                                                       {"hasSecret", true}},
                                                      {{"type", "mqtt"},
                                                       {"url", "mqtts://broker.example:8883"},
                                                       {"topic", "app/telemetry"},
                                                       {"username", "app"},
                                                       {"hasSecret", true}}}));
  REQUIRE(rest.Call("DELETE", "/rules/" + std::to_string(Json(created)["id"].get<std::int64_t>())).status ==
          204);

  // A blank filter is no filter.
  auto blank = rest.Call("POST", "/rules", NewRule("   "));
  REQUIRE(blank.status == 201);
  CHECK(Json(blank)["filter"].is_null());
}

TEST_CASE("rest: forwarding rules - dead letters are listed and replayed into the rule's queue",
          "[integration][api][rest][rules]") {
  Rest rest;
  INFO(rest.api.Log());
  rest.Product("fwdProd1");
  json device = rest.Device("fwdProd1", "dev0001");
  auto created = rest.Call("POST", "/rules", NewRule());
  REQUIRE(created.status == 201);
  const std::int64_t rule = Json(created)["id"].get<std::int64_t>();
  const std::string id = std::to_string(rule);
  // Two outbox rows of the rule, moved to the dead letters as a forwarder gives them up.
  {
    pqxx::connection c(rest.api.Dsn());
    pqxx::work tx(c);
    for (int n = 1; n <= 2; ++n) {
      tx.exec_params(
          "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, "
          "payload) "
          "SELECT ARRAY[$1::bigint], 'property', '/fwdProd1/dev0001/thing/event/property/post', id, "
          "product_key, "
          "device_name, iot_id, jsonb_build_object('n', $2::int) FROM devices WHERE device_name = 'dev0001'",
          rule, n);
    }
    tx.exec_params(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, 'test', now() + interval '1 hour')",
        iot::store::ForwardLeaseName(rule));
    tx.commit();
  }
  auto cursor = iot::store::GetForwardCursor(rest.db, rule);
  REQUIRE(cursor.has_value());
  // Read once the snapshot bound passed them (other tests' transactions on the shared server hold it back
  // while they run).
  std::vector<iot::store::OutboxMessage> batch;
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto read = iot::store::ReadOutbox(rest.db, rule, *cursor, 10);
        batch = read ? *read : std::vector<iot::store::OutboxMessage>{};
        return batch.size() == 2;
      },
      std::chrono::seconds(30)));
  auto dead = iot::store::DeadLetterForward(rest.db, rule, "test", batch, 3, "webhook answered HTTP 400");
  REQUIRE(dead.has_value());
  REQUIRE(*dead == iot::store::CursorMove::kMoved);
  // Another holder cannot move the cursor.
  CHECK(*iot::store::AdvanceForwardCursor(rest.db, rule, "someone-else", batch.back(), 2) ==
        iot::store::CursorMove::kNotMoved);

  auto letters = rest.Call("GET", "/rules/" + id + "/dead-letters?limit=1");
  REQUIRE(letters.status == 200);
  json page = Json(letters);
  REQUIRE(page["items"].size() == 1);
  CHECK(page["items"][0]["payload"] == json{{"n", 1}});
  CHECK(page["items"][0]["iotId"] == device["iotId"]);
  CHECK(page["items"][0]["error"] == "webhook answered HTTP 400");
  CHECK(page["items"][0]["attempts"] == 3);
  CHECK(page["items"][0]["deviceName"] == "dev0001");
  REQUIRE(page["nextCursor"].is_string());
  auto next = Json(rest.Call(
      "GET", "/rules/" + id + "/dead-letters?limit=1&cursor=" + page["nextCursor"].get<std::string>()));
  CHECK(next["items"].size() == 1);
  CHECK(next["nextCursor"].is_null());
  const std::int64_t first_id = page["items"][0]["id"].get<std::int64_t>();

  auto s = Json(rest.Call("GET", "/rules/" + id + "/status"));
  CHECK(s["deadLettered"] == 2);
  CHECK(s["deadLetters"] == 2);
  CHECK(s["lagMessages"] == 0);

  auto replayed = rest.Call("POST", "/rules/" + id + "/dead-letters:replay", json{{"ids", {first_id}}});
  REQUIRE(replayed.status == 200);
  CHECK(Json(replayed)["replayed"] == 1);
  s = Json(rest.Call("GET", "/rules/" + id + "/status"));
  CHECK(s["deadLetters"] == 1);
  CHECK(s["lagMessages"] == 1);
  // Back in the rule's queue, with its first messageId.
  std::vector<iot::store::OutboxMessage> again;
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto read = iot::store::ReadOutbox(rest.db, rule, *iot::store::GetForwardCursor(rest.db, rule), 10);
        again = read ? *read : std::vector<iot::store::OutboxMessage>{};
        return again.size() == 1;
      },
      std::chrono::seconds(30)));
  CHECK(again.front().message_id == page["items"][0]["messageId"]);
  auto all = rest.Call("POST", "/rules/" + id + "/dead-letters:replay");
  REQUIRE(all.status == 200);
  CHECK(Json(all)["replayed"] == 1);
  CheckProblem(rest.Call("POST", "/rules/999999/dead-letters:replay"), 404);
}
