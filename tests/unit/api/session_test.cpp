// The transport's session templates (HTTP and WebSocket) over Beast's test::stream: a request fed to a
// session is answered, an upgrade becomes a WebSocket session that answers client messages, and an
// error injected at each read and write step (test::fail_count) ends the session cleanly: no crash,
// the session object is destroyed and the connection count is back to zero.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/fail_count.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <catch2/catch.hpp>

#include "http/auth.hpp"
#include "http/dispatcher.hpp"
#include "http/metrics.hpp"
#include "stream/hub.hpp"
#include "stream/service.hpp"
#include "transport/http_session.hpp"
#include "transport/ws_session.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using TestStream = boost::beast::test::stream;

// test::stream beneath the sessions: it has no timeouts of its own; half-close and close are both its
// close() (the peer reads end of stream, a pending read here is cancelled).
namespace iot::api::transport::detail {
template <>
struct StreamOps<TestStream> {
  static void ExpiresAfter(TestStream&, std::chrono::steady_clock::duration) {}
  static void ExpiresNever(TestStream&) {}
  static void ShutdownSend(TestStream& s) { s.close(); }
  static void Cancel(TestStream& s) { s.close(); }
  static void Close(TestStream& s) { s.close(); }
};
}  // namespace iot::api::transport::detail

namespace {

using iot::api::Request;
using iot::api::Respond;
using iot::api::Response;
using iot::api::transport::ServerState;
using iot::api::transport::SessionOptions;
using iot::api::transport::detail::HttpSession;

constexpr char kToken[] = "session-test-token";

// Answers every request with its method, target and body.
class EchoHandler final : public iot::api::RequestHandler {
 public:
  void Handle(Request&& request, Respond respond) override {
    Response response;
    response.status = 200;
    response.content_type = "text/plain";
    response.body = request.method + " " + request.target + " " + request.body;
    respond(std::move(response));
  }
};

// Never asked: the tests subscribe to nothing.
class NoChecker final : public iot::api::stream::SubscriptionChecker {
 public:
  void Check(std::string, std::string, Done done) override { done(Verdict::kUnavailable); }
};

// The sessions' surroundings, with `Handler` answering their requests.
template <class Handler>
struct FixtureOf {
  FixtureOf() {
    authenticator.Add(kToken, iot::api::Principal{.name = "tester", .role = iot::api::Role::kViewer});
    state->stream = &service;
  }

  // A session on the server end, counted the way the listener counts an accepted connection.
  std::weak_ptr<HttpSession<TestStream>> Start(TestStream&& server) {
    state->connections.fetch_add(1);
    metrics.Connections().fetch_add(1);
    auto session = std::make_shared<HttpSession<TestStream>>(state, SessionOptions{}, std::move(server),
                                                             "127.0.0.1:40000");
    session->Start();
    return session;
  }

  // Runs the io_context until `done` holds (bounded: 5 s, or `tries` times 10 ms). Restarted each time:
  // a paused upload leaves it without work, which stops it (and another thread may post work later).
  template <class Done>
  bool RunUntil(Done done, int tries = 500) {
    for (int i = 0; i < tries && !done(); ++i) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(10));
      if (ioc.stopped()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    return done();
  }

  // Every session ended: destroyed, unregistered, uncounted.
  bool AllEnded() {
    std::lock_guard lock(state->mutex);
    return state->sessions.empty() && state->connections.load() == 0 && metrics.Connections().load() == 0;
  }

  net::io_context ioc;
  Handler handler;
  iot::api::MetricsRegistry metrics;
  iot::api::StaticTokenAuthenticator authenticator;
  NoChecker checker;
  iot::api::stream::Hub hub;
  iot::api::stream::Service service{authenticator, checker, hub, {}};
  std::shared_ptr<ServerState> state =
      std::make_shared<ServerState>(iot::api::ServerSettings{}, handler, metrics);
};
using Fixture = FixtureOf<EchoHandler>;

constexpr std::string_view kRequest =
    "POST /api/v1/echo?x=1 HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello";

}  // namespace

TEST_CASE("HttpSession over test::stream answers a request and ends when the client closes",
          "[api][transport]") {
  Fixture f;
  TestStream client(f.ioc);
  TestStream server(f.ioc);
  client.connect(server);
  auto session = f.Start(std::move(server));
  net::write(client, net::buffer(kRequest));

  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool read = false;
  beast::error_code read_ec;
  http::async_read(client, buffer, response, [&](beast::error_code ec, std::size_t) {
    read_ec = ec;
    read = true;
  });
  REQUIRE(f.RunUntil([&] { return read; }));
  REQUIRE_FALSE(read_ec);
  CHECK(response.result_int() == 200);
  CHECK(response.body() == "POST /api/v1/echo?x=1 hello");
  CHECK(response["Server"] == "iot-api");
  CHECK_FALSE(response["X-Request-Id"].empty());
  CHECK(response.keep_alive());
  CHECK_FALSE(session.expired());  // keep-alive: waiting for the next request

  client.close();
  REQUIRE(f.RunUntil([&] { return session.expired(); }));
  CHECK(f.AllEnded());
}

TEST_CASE("HttpSession over test::stream refuses a malformed request with 400, then closes",
          "[api][transport]") {
  Fixture f;
  TestStream client(f.ioc);
  TestStream server(f.ioc);
  client.connect(server);
  auto session = f.Start(std::move(server));
  net::write(client, net::buffer(std::string_view("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n")));

  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool read = false;
  http::async_read(client, buffer, response, [&](beast::error_code, std::size_t) { read = true; });
  REQUIRE(f.RunUntil([&] { return read; }));
  CHECK(response.result_int() == 400);
  CHECK_FALSE(response.keep_alive());
  // The session half-closes and drains until the client closes too.
  client.close();
  REQUIRE(f.RunUntil([&] { return session.expired(); }));
  CHECK(f.AllEnded());
}

TEST_CASE("HttpSession over test::stream: an error at each read and write step ends the session cleanly",
          "[api][transport]") {
  bool answered = false;
  std::size_t failed_steps = 0;
  for (std::size_t n = 0; n < 32 && !answered; ++n) {
    INFO("failing from operation " << n);
    Fixture f;
    boost::beast::test::fail_count fail(n);
    TestStream client(f.ioc);
    TestStream server(f.ioc, fail);
    client.connect(server);
    auto session = f.Start(std::move(server));
    // Two pipelined requests: reads, writes and the read that waits for a third all get their turn.
    net::write(client, net::buffer(std::string(kRequest) + std::string(kRequest)));

    beast::flat_buffer buffer;
    http::response<http::string_body> first;
    http::response<http::string_body> second;
    int done = 0;
    beast::error_code ec1;
    beast::error_code ec2;
    http::async_read(client, buffer, first, [&](beast::error_code ec, std::size_t) {
      ec1 = ec;
      ++done;
      if (ec) {
        ++done;
        return;
      }
      http::async_read(client, buffer, second, [&](beast::error_code e, std::size_t) {
        ec2 = e;
        ++done;
      });
    });
    REQUIRE(f.RunUntil([&] { return done == 2; }));
    answered = !ec1 && !ec2;
    if (answered) {
      CHECK(first.result_int() == 200);
      CHECK(second.result_int() == 200);
      CHECK(second.body() == "POST /api/v1/echo?x=1 hello");
    } else {
      ++failed_steps;
    }
    client.close();
    REQUIRE(f.RunUntil([&] { return session.expired(); }));
    CHECK(f.AllEnded());
  }
  CHECK(answered);           // once no step fails, both requests are answered
  CHECK(failed_steps >= 3);  // the first read, the first write and the second write failed first
}

namespace {

// A WebSocket client over test::stream, with the outcome of each step.
struct WsClient {
  explicit WsClient(net::io_context& ioc) : ws(ioc) {}

  void Handshake() {
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(http::field::authorization, std::string("Bearer ") + kToken);
    }));
    ws.async_handshake("test", "/api/v1/stream", [this](beast::error_code e) {
      ec = e;
      shook = true;
    });
  }

  void Exchange(std::string text) {
    out = std::move(text);
    ws.text(true);
    ws.async_write(net::buffer(out), [this](beast::error_code e, std::size_t) {
      if (e) {
        ec = e;
        answered = true;
        return;
      }
      ws.async_read(buffer, [this](beast::error_code e2, std::size_t) {
        ec = e2;
        answer = beast::buffers_to_string(buffer.data());
        answered = true;
      });
    });
  }

  websocket::stream<TestStream> ws;
  beast::flat_buffer buffer;
  std::string out;
  std::string answer;
  beast::error_code ec;
  bool shook = false;
  bool answered = false;
};

}  // namespace

TEST_CASE("WsSession over test::stream: an upgrade answers client messages and ends on close",
          "[api][transport][stream]") {
  Fixture f;
  WsClient client(f.ioc);
  TestStream server(f.ioc);
  client.ws.next_layer().connect(server);
  auto http_session = f.Start(std::move(server));
  client.Handshake();
  REQUIRE(f.RunUntil([&] { return client.shook; }));
  REQUIRE_FALSE(client.ec);
  REQUIRE(f.RunUntil([&] { return http_session.expired(); }));  // the socket moved to the WebSocket session
  CHECK(f.state->connections.load() == 1);

  client.Exchange("not json");
  REQUIRE(f.RunUntil([&] { return client.answered; }));
  REQUIRE_FALSE(client.ec);
  CHECK(client.answer.find(R"("type":"error")") != std::string::npos);

  bool closed = false;
  client.ws.async_close(websocket::close_code::normal, [&](beast::error_code) { closed = true; });
  REQUIRE(f.RunUntil([&] { return closed; }));
  REQUIRE(f.RunUntil([&] { return f.AllEnded(); }));
  CHECK(f.service.Stats().accepted.load() == 1);
}

TEST_CASE("WsSession over test::stream: an error at each read and write step ends the session cleanly",
          "[api][transport][stream]") {
  bool answered = false;
  std::size_t failed_steps = 0;
  for (std::size_t n = 0; n < 64 && !answered; ++n) {
    INFO("failing from operation " << n);
    Fixture f;
    boost::beast::test::fail_count fail(n);
    WsClient client(f.ioc);
    TestStream server(f.ioc, fail);
    client.ws.next_layer().connect(server);
    f.Start(std::move(server));
    client.Handshake();
    REQUIRE(f.RunUntil([&] { return client.shook; }));
    if (!client.ec) {
      client.Exchange("not json");
      // A failed step may leave the client waiting (its peer still open): it closes below either way.
      answered = f.RunUntil([&] { return client.answered; }, 100) && !client.ec;
    }
    if (!answered) {
      ++failed_steps;
    }
    client.ws.next_layer().close();
    REQUIRE(f.RunUntil([&] { return f.AllEnded(); }));
    // Every stream client the service let in was told about the end of its connection.
    CHECK(f.service.Stats().clients.load() == 0);
  }
  CHECK(answered);
  CHECK(failed_steps >= 3);  // the request read, the 101 write, the message read and the answer write
}

namespace {

// Streams: a request body read later from another thread, and responses produced piece by piece.
class StreamingHandler final : public iot::api::RequestHandler {
 public:
  // The pieces of a download response (GET /short promises one byte more than they hold).
  class Pieces final : public iot::api::ResponseSource {
   public:
    explicit Pieces(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
    void Next(std::function<void(iot::Result<std::string>)> done) override {
      if (next_ == pieces_.size()) {
        done(std::string());
        return;
      }
      done(pieces_[next_++]);
    }

   private:
    std::vector<std::string> pieces_;
    std::size_t next_ = 0;
  };

  void Handle(Request&& request, Respond respond) override {
    if (request.body_stream) {
      body = request.body_stream;
      pending = std::move(respond);
      return;
    }
    std::vector<std::string> pieces = {"first ", std::string(100000, 'x'), " last"};
    std::uint64_t length = 0;
    for (const auto& p : pieces) {
      length += p.size();
    }
    Response response;
    response.content_type = "application/octet-stream";
    response.source = std::make_shared<Pieces>(std::move(pieces));
    response.stream_length = length + (request.target == "/short" ? 1 : 0);
    respond(std::move(response));
  }

  std::shared_ptr<iot::api::RequestBody> body;
  Respond pending;
};

using StreamFixture = FixtureOf<StreamingHandler>;

}  // namespace

TEST_CASE(
    "HttpSession over test::stream: a firmware upload's body streams to the handler, read on another thread",
    "[api][transport]") {
  StreamFixture f;
  TestStream client(f.ioc);
  TestStream server(f.ioc);
  client.connect(server);
  auto session = f.Start(std::move(server));
  std::string body(300000, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i * 31 % 256);
  }
  net::write(
      client,
      net::buffer("POST /api/v1/products/pk01/firmwares?version=1 HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body));
  // Dispatched once the header is in, before the body is read.
  REQUIRE(f.RunUntil([&] { return f.handler.body != nullptr; }));
  CHECK(f.handler.body->ContentLength() == body.size());
  f.RunUntil([] { return false; }, 5);  // nobody reads: the transport pauses at the channel's bound

  std::string got;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    char buffer[10000];
    while (true) {
      auto n = f.handler.body->Read(buffer, sizeof buffer);
      if (!n || *n == 0) {
        break;
      }
      got.append(buffer, *n);
    }
    done = true;
  });
  const bool finished = f.RunUntil([&] { return done.load(); });
  if (!finished) {
    f.handler.body->Abandon();  // (ends the reader)
  }
  reader.join();
  INFO("read " << got.size() << " of " << body.size());
  REQUIRE(finished);
  CHECK(got == body);
  Response created;
  created.status = 201;
  created.body = std::to_string(got.size());
  f.handler.pending(std::move(created));

  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool read = false;
  http::async_read(client, buffer, response, [&](beast::error_code, std::size_t) { read = true; });
  REQUIRE(f.RunUntil([&] { return read; }));
  CHECK(response.result_int() == 201);
  CHECK(response.body() == "300000");
  CHECK(response.keep_alive());   // the whole body was read: the connection goes on
  f.handler.pending = Respond();  // (its sink holds the session)
  f.handler.body.reset();
  client.close();
  REQUIRE(f.RunUntil([&] { return session.expired(); }));
}

TEST_CASE("HttpSession over test::stream: a streamed response is written piece by piece, keep-alive after it",
          "[api][transport]") {
  StreamFixture f;
  TestStream client(f.ioc);
  TestStream server(f.ioc);
  client.connect(server);
  auto session = f.Start(std::move(server));
  for (int round = 0; round < 2; ++round) {
    net::write(client, net::buffer(std::string_view("GET /download HTTP/1.1\r\nHost: a\r\n\r\n")));
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    bool read = false;
    beast::error_code read_ec;
    http::async_read(client, buffer, response, [&](beast::error_code ec, std::size_t) {
      read_ec = ec;
      read = true;
    });
    REQUIRE(f.RunUntil([&] { return read; }));
    REQUIRE_FALSE(read_ec);
    CHECK(response.result_int() == 200);
    CHECK(response["Content-Length"] == "100011");
    CHECK(response.body() == "first " + std::string(100000, 'x') + " last");
    CHECK(response.keep_alive());
  }

  // A source that ends before the promised length: the connection ends (the client sees a cut body).
  net::write(client, net::buffer(std::string_view("GET /short HTTP/1.1\r\nHost: a\r\n\r\n")));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool read = false;
  beast::error_code read_ec;
  http::async_read(client, buffer, response, [&](beast::error_code ec, std::size_t) {
    read_ec = ec;
    read = true;
  });
  REQUIRE(f.RunUntil([&] { return read; }));
  CHECK(read_ec);
  REQUIRE(f.RunUntil([&] { return session.expired(); }));
}
