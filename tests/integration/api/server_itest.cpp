// The transport in-process (iot::api::Server over loopback) with test routes: authenticated JSON
// routes, handlers that answer late, and shutdown while a request is in flight.
#include <mutex>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "http/body_schema.hpp"
#include "http/dispatcher.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "transport/server.hpp"

namespace {

using iot::api::Request;
using iot::api::Respond;
using iot::api::Role;
using iot::testing::HttpClient;
using iot::testing::RawConnection;

const std::string kViewer = "viewer-token-aaaaaaaaaaaa";
const std::string kOperator = "operator-token-bbbbbbbbbbbb";

class TestServer {
 public:
  explicit TestServer(iot::api::ServerSettings settings = {}) {
    auth_.Add(kViewer, {.name = "alice", .role = Role::kViewer});
    auth_.Add(kOperator, {.name = "bob", .role = Role::kOperator});
    const iot::api::RouteOptions open{.min_role = std::nullopt};

    static const iot::api::BodySchema kEcho = iot::api::BodySchema()
                                                  .Required("name", iot::api::FieldType::kString)
                                                  .Optional("count", iot::api::FieldType::kInteger);
    router_.Add("POST", "/api/v1/echo", {.min_role = Role::kOperator},
                [](Request&& request, Respond respond) {
                  nlohmann::json body = iot::api::ParseJsonBody(request, kEcho);
                  body["principal"] = request.principal->name;
                  respond(iot::api::JsonResponse(200, body.dump()));
                });
    router_.Add(
        "GET", "/api/v1/things/{name}", {.min_role = Role::kViewer}, [](Request&& request, Respond respond) {
          respond(iot::api::JsonResponse(200, nlohmann::json{{"name", request.Param("name")}}.dump()));
        });
    // Parks the request until the test answers it.
    router_.Add("GET", "/slow", open, [this](Request&&, Respond respond) {
      std::lock_guard lock(mutex_);
      parked_.push_back(std::move(respond));
    });
    // Answers after {ms} milliseconds from another thread.
    router_.Add("GET", "/later/{ms}", open, [](Request&& request, Respond respond) {
      const int ms = std::stoi(request.Param("ms"));
      std::thread([ms, respond] {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        respond(iot::api::JsonResponse(200, std::to_string(ms)));
      }).detach();
    });

    settings.bind_address = "127.0.0.1";
    settings.port = 0;
    server_ = std::make_unique<iot::api::Server>(settings, dispatcher_, metrics_);
    server_->Start();
    thread_ = std::thread([this] { server_->Run(); });
  }

  ~TestServer() {
    AnswerParked(200);
    server_->Shutdown();
    if (thread_.joinable()) {
      thread_.join();
    }
    std::lock_guard lock(mutex_);
    parked_.clear();
  }

  int Port() const { return server_->Port(); }
  iot::api::Server& Server() { return *server_; }
  std::thread& Thread() { return thread_; }

  std::size_t Parked() {
    std::lock_guard lock(mutex_);
    return parked_.size();
  }

  void AnswerParked(int status) {
    std::vector<Respond> parked;
    {
      std::lock_guard lock(mutex_);
      parked.swap(parked_);
    }
    for (auto& respond : parked) {
      respond(iot::api::JsonResponse(status, "{}"));
    }
  }

 private:
  iot::api::MetricsRegistry metrics_;
  iot::api::StaticTokenAuthenticator auth_;
  iot::api::Router router_{auth_};
  iot::api::Dispatcher dispatcher_{router_, metrics_};
  std::mutex mutex_;
  std::vector<Respond> parked_;
  std::unique_ptr<iot::api::Server> server_;
  std::thread thread_;
};

iot::testing::HttpHeaders Bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
}

}  // namespace

TEST_CASE("Server: 401 without or with an unknown token, 403 when the role is too low",
          "[integration][api][auth]") {
  TestServer server;
  HttpClient client(server.Port());
  auto none = client.Request("POST", "/api/v1/echo", {{"Content-Type", "application/json"}}, "{}");
  CHECK(none.status == 401);
  CHECK(none.Header("www-authenticate") == "Bearer");
  CHECK(none.Header("content-type") == "application/problem+json");
  CHECK(client.Request("POST", "/api/v1/echo", Bearer("nope-nope-nope-nope"), "{}").status == 401);
  CHECK(client.Request("POST", "/api/v1/echo", Bearer(kViewer), "{}").status == 403);
  auto ok = client.Request("POST", "/api/v1/echo", Bearer(kOperator), R"({"name":"x"})");
  CHECK(ok.status == 200);
  CHECK(nlohmann::json::parse(ok.body)["principal"] == "bob");
  // Path parameters arrive percent-decoded, one segment each.
  auto thing = client.Request("GET", "/api/v1/things/a%2Fb%20c", Bearer(kViewer));
  CHECK(thing.status == 200);
  CHECK(nlohmann::json::parse(thing.body)["name"] == "a/b c");
}

TEST_CASE("Server: JSON bodies: 415 not JSON, 400 malformed, 400 listing every problem",
          "[integration][api][json]") {
  TestServer server;
  HttpClient client(server.Port());
  auto headers = Bearer(kOperator);
  auto text = client.Request("POST", "/api/v1/echo",
                             {{"Authorization", "Bearer " + kOperator}, {"Content-Type", "text/plain"}},
                             R"({"name":"x"})");
  CHECK(text.status == 415);

  auto malformed = client.Request("POST", "/api/v1/echo", headers, R"({"name": )");
  CHECK(malformed.status == 400);
  CHECK(nlohmann::json::parse(malformed.body)["detail"].get<std::string>().find("malformed JSON at byte") !=
        std::string::npos);

  auto invalid = client.Request("POST", "/api/v1/echo", headers, R"({"count":"3","extra":1})");
  REQUIRE(invalid.status == 400);
  auto problem = nlohmann::json::parse(invalid.body);
  std::set<std::string> paths;
  for (const auto& e : problem["errors"]) {
    paths.insert(e["path"].get<std::string>());
  }
  CHECK(paths == std::set<std::string>{"/name", "/count", "/extra"});
}

TEST_CASE("Server: pipelined requests are answered in order even when handlers finish out of order",
          "[integration][api][pipeline]") {
  TestServer server;
  RawConnection raw(server.Port());
  REQUIRE(
      raw.Send("GET /later/300 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /later/1 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /later/100 HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(raw.ReadResponse().body == "300");
  CHECK(raw.ReadResponse().body == "1");
  CHECK(raw.ReadResponse().body == "100");
}

TEST_CASE("Server: shutdown stops accepting and lets an in-flight request finish",
          "[integration][api][shutdown]") {
  TestServer server;
  const int port = server.Port();
  iot::testing::HttpResponse slow_response;
  std::thread client([&] { slow_response = iot::testing::HttpRequest(port, "GET", "/slow"); });
  REQUIRE(iot::testing::PollUntil([&] { return server.Parked() == 1; }));

  server.Server().Shutdown();
  CHECK(iot::testing::PollUntil([&] {
    try {
      RawConnection probe(port);
      return false;
    } catch (const std::exception&) {
      return true;  // refused: the listener is closed
    }
  }));
  server.AnswerParked(200);
  client.join();
  CHECK(slow_response.status == 200);
  CHECK(slow_response.Header("connection") == "close");
  server.Thread().join();  // Run() returns once the last connection is gone
}

TEST_CASE("Server: shutdown gives up on a request that never finishes after the grace period",
          "[integration][api][shutdown]") {
  iot::api::ServerSettings settings;
  settings.shutdown_grace = std::chrono::milliseconds(300);
  TestServer server(settings);
  RawConnection raw(server.Port());
  REQUIRE(raw.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(iot::testing::PollUntil([&] { return server.Parked() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  server.Server().Shutdown();
  server.Thread().join();
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= std::chrono::milliseconds(250));
  CHECK(took < std::chrono::seconds(5));
}
