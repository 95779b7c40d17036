#include "stream/service.hpp"

#include <algorithm>
#include <map>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "http/auth.hpp"

using namespace iot::api;
using stream::SubscriptionChecker;

namespace {

// Answers at once from a table: products and "pk/dn" devices.
class FakeChecker final : public SubscriptionChecker {
 public:
  std::set<std::string> known{"pk01", "pk01/dev1"};
  bool unavailable = false;
  void Check(std::string pk, std::string dn, Done done) override {
    if (unavailable) {
      return done(Verdict::kUnavailable);
    }
    if (!known.count(pk)) {
      return done(Verdict::kUnknownProduct);
    }
    if (!dn.empty() && !known.count(pk + "/" + dn)) {
      return done(Verdict::kUnknownDevice);
    }
    done(Verdict::kOk);
  }
};

struct Fixture {
  StaticTokenAuthenticator auth;
  FakeChecker checker;
  stream::Hub hub;
  stream::Service service{auth, checker, hub, stream::Settings{}};

  Fixture() {
    auth.Add("viewer-token-0123456789", Principal{"v", Role::kViewer});
    auth.Add("admin-token-0123456789a", Principal{"a", Role::kAdmin});
  }

  stream::UpgradeDecision Upgrade(std::string target, std::string authorization = "") {
    Request r;
    r.method = "GET";
    r.target = std::move(target);
    if (!authorization.empty()) {
      r.headers.emplace_back("authorization", authorization);
    }
    stream::UpgradeDecision out;
    bool called = false;
    service.Authorize(std::move(r), [&](stream::UpgradeDecision d) {
      out = std::move(d);
      called = true;
    });
    REQUIRE(called);
    return out;
  }

  nlohmann::json Next(stream::Client& c) {
    auto m = c.Pop();
    REQUIRE(m.has_value());
    return nlohmann::json::parse(**m);
  }
};

}  // namespace

TEST_CASE("Stream service: token from header or query, refused without", "[stream][service]") {
  Fixture f;
  auto none = f.Upgrade("/api/v1/stream");
  REQUIRE(none.refusal);
  CHECK(none.refusal->status == 401);
  auto bad = f.Upgrade("/api/v1/stream", "Bearer nope-nope-nope-nope");
  REQUIRE(bad.refusal);
  CHECK(bad.refusal->status == 401);
  auto bad_query = f.Upgrade("/api/v1/stream?token=wrong");
  REQUIRE(bad_query.refusal);
  CHECK(bad_query.refusal->status == 401);

  auto viewer = f.Upgrade("/api/v1/stream", "Bearer viewer-token-0123456789");
  CHECK_FALSE(viewer.refusal);
  REQUIRE(viewer.client);
  CHECK(viewer.client->Who().role == Role::kViewer);
  auto query = f.Upgrade("/api/v1/stream?token=admin-token-0123456789a");
  REQUIRE(query.client);
  CHECK(query.client->Who().name == "a");
  CHECK(f.service.Stats().clients == 2);
  CHECK(f.service.Stats().refused == 3);
}

TEST_CASE("Stream service: stream target matches the path only", "[stream][service]") {
  CHECK(stream::Service::IsStreamTarget("/api/v1/stream"));
  CHECK(stream::Service::IsStreamTarget("/api/v1/stream?token=x"));
  CHECK_FALSE(stream::Service::IsStreamTarget("/api/v1/streams"));
  CHECK_FALSE(stream::Service::IsStreamTarget("/api/v1/products"));
}

TEST_CASE("Stream service: subscribe answers, errors for unknown and malformed", "[stream][service]") {
  Fixture f;
  auto c = f.Upgrade("/api/v1/stream", "Bearer viewer-token-0123456789").client;
  REQUIRE(c);
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01"}})", true);
  CHECK(f.Next(*c) == nlohmann::json{{"type", "subscribed"}, {"productKey", "pk01"}});
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"nope"}})", true);
  auto e1 = f.Next(*c);
  CHECK(e1["type"] == "error");
  CHECK(e1["error"]["code"] == "notFound");
  CHECK(e1["request"]["subscribe"]["productKey"] == "nope");
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01","deviceName":"ghost"}})", true);
  CHECK(f.Next(*c)["error"]["message"] == "unknown device");
  f.service.OnMessage(c, "{{{", true);
  CHECK(f.Next(*c)["error"]["code"] == "badRequest");
  f.service.OnMessage(c, "binary", false);
  CHECK(f.Next(*c)["error"]["code"] == "badRequest");
  f.checker.unavailable = true;
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01","deviceName":"dev1"}})", true);
  CHECK(f.Next(*c)["error"]["code"] == "unavailable");
  CHECK(f.service.Stats().bad_messages == 2);

  CHECK(f.hub.Publish("pk01", "dev9", [] { return std::string("{}"); }) == 1);
  CHECK(f.Next(*c).is_object());
  f.service.OnMessage(c, R"({"unsubscribe":{"productKey":"pk01"}})", true);
  CHECK(f.Next(*c)["type"] == "unsubscribed");
  f.service.OnMessage(c, R"({"unsubscribe":{"productKey":"pk01"}})", true);
  CHECK(f.Next(*c)["error"]["code"] == "notFound");
  CHECK(f.hub.Publish("pk01", "dev9", [] { return std::string("{}"); }) == 0);
}

TEST_CASE("Stream service: closing drops subscriptions and counts slow clients", "[stream][service]") {
  Fixture f;
  auto c = f.Upgrade("/api/v1/stream", "Bearer viewer-token-0123456789").client;
  REQUIRE(c);
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01"}})", true);
  REQUIRE(f.hub.Any());
  f.service.OnSlow(c);
  CHECK_FALSE(f.hub.Any());  // routed nothing more at once
  CHECK(f.service.Stats().slow_disconnects == 1);
  CHECK(f.service.Stats().clients == 1);
  f.service.OnClosed(c);
  CHECK(f.service.Stats().clients == 0);
  // A subscribe whose check finishes after the close does not resurrect the subscription.
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01"}})", true);
  CHECK_FALSE(f.hub.Any());
}

TEST_CASE("Stream service: a new subscription is confirmed only when the gate opens", "[stream][service]") {
  Fixture f;
  std::vector<std::function<void()>> gated;
  f.service.SetGate([&](std::function<void()> then) { gated.push_back(std::move(then)); });
  auto c = f.Upgrade("/api/v1/stream", "Bearer viewer-token-0123456789").client;
  REQUIRE(c);
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01"}})", true);
  CHECK(f.hub.Any());  // routed already, so nothing committed after the confirmation is lost
  CHECK_FALSE(c->Pop().has_value());
  REQUIRE(gated.size() == 1);
  gated.front()();
  CHECK(f.Next(*c)["type"] == "subscribed");
  // Errors and repeated subscriptions do not wait.
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"pk01"}})", true);
  CHECK(f.Next(*c)["type"] == "subscribed");
  f.service.OnMessage(c, R"({"subscribe":{"productKey":"nope"}})", true);
  CHECK(f.Next(*c)["type"] == "error");
  CHECK(gated.size() == 1);
}

TEST_CASE("Stream service: a message nested deeper than 64 asks the transport to close with 1009",
          "[stream][service]") {
  Fixture f;
  auto d = f.Upgrade("/api/v1/stream", "Bearer viewer-token-0123456789");
  REQUIRE(d.client);
  f.service.OnMessage(d.client, R"({"subscribe":)" + std::string(100, '[') + std::string(100, ']') + "}",
                      true);
  auto close = d.client->PendingClose();
  REQUIRE(close);
  CHECK(close->code == 1009);
  CHECK(close->reason == "JSON nested deeper than 64");
  CHECK_FALSE(d.client->Push(std::make_shared<const std::string>("x")));  // nothing more is queued
}

TEST_CASE("Stream service: streams of a revoked or expired token are asked to close with 4401",
          "[stream][service]") {
  Fixture f;
  f.auth.Add("token-7-0123456789abcdef", Principal{.name = "t7", .role = Role::kViewer, .token_id = 7});
  f.auth.Add("token-8-0123456789abcdef",
             Principal{.name = "t8", .role = Role::kViewer, .token_id = 8, .expires_at_ms = 5000});
  auto seven = f.Upgrade("/api/v1/stream", "Bearer token-7-0123456789abcdef");
  auto eight = f.Upgrade("/api/v1/stream", "Bearer token-8-0123456789abcdef");
  auto admin = f.Upgrade("/api/v1/stream", "Bearer admin-token-0123456789a");
  REQUIRE((seven.client && eight.client && admin.client));
  // What the token listener rechecks after a reconnect: each open stream's token, once.
  auto also_seven = f.Upgrade("/api/v1/stream", "Bearer token-7-0123456789abcdef");
  REQUIRE(also_seven.client);
  REQUIRE(admin.client->Who().token_id == 0);  // not a stored token: nothing to recheck
  CHECK(f.service.OpenTokenIds() == std::vector<std::int64_t>{7, 8});
  f.service.CloseTokens(std::nullopt, 4999);
  CHECK_FALSE(seven.client->PendingClose());
  CHECK_FALSE(eight.client->PendingClose());
  f.service.CloseTokens(7, 4999);
  REQUIRE(seven.client->PendingClose());
  CHECK(seven.client->PendingClose()->code == 4401);
  CHECK(also_seven.client->PendingClose());
  CHECK_FALSE(eight.client->PendingClose());
  const auto still_open = f.service.OpenTokenIds();
  CHECK(std::find(still_open.begin(), still_open.end(), 7) == still_open.end());
  f.service.CloseTokens(std::nullopt, 5000);
  REQUIRE(eight.client->PendingClose());
  CHECK(eight.client->PendingClose()->code == 4401);
  CHECK_FALSE(admin.client->PendingClose());
}
