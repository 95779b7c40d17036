#include "iot/testing/webhook_receiver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <system_error>

#include <catch2/catch.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/testing/process.hpp"

namespace iot::testing {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

WebhookReceiver::WebhookReceiver(std::string secret) : secret_(std::move(secret)), port_(FreePort()) {
  Start();
}

WebhookReceiver::~WebhookReceiver() { Stop(); }

void WebhookReceiver::Start() {
  // Close-on-exec: the gateway processes a test starts later must not inherit (and hold) the port.
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  // The port again after Stop: a connection of the last run may hold it for a moment.
  int bound = -1;
  for (int attempt = 0; attempt < 100 && bound != 0; ++attempt) {
    bound = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (bound != 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  INFO("bind 127.0.0.1:" << port_ << ": " << std::generic_category().message(errno));
  REQUIRE(bound == 0);
  REQUIRE(::listen(fd_, 16) == 0);
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void WebhookReceiver::Stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void WebhookReceiver::SetAnswer(Answer answer) {
  std::lock_guard lock(mutex_);
  answer_ = std::move(answer);
}

std::vector<WebhookReceiver::Message> WebhookReceiver::Received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

void WebhookReceiver::Loop() {
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client >= 0) {
      Serve(client);
      ::close(client);
    }
  }
}

void WebhookReceiver::Serve(int client) {
  timeval tv{5, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string data;
  char buf[65536];
  std::size_t header_end = std::string::npos;
  std::size_t length = 0;
  while (true) {
    const ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) {
      return;
    }
    data.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
      const std::string head = Lower(data.substr(0, header_end));
      const auto at = head.find("content-length:");
      length = at == std::string::npos ? 0 : std::stoul(head.substr(at + 15));
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + length) {
      break;
    }
  }
  ++requests_;
  const std::string head = data.substr(0, header_end);
  const std::string body = data.substr(header_end + 4, length);
  auto header = [&](const std::string& name) -> std::string {
    const std::string lower = Lower(head);
    const auto at = lower.find("\r\n" + name + ":");
    if (at == std::string::npos) {
      return "";
    }
    const auto start = head.find_first_not_of(' ', at + 3 + name.size());
    return head.substr(start, head.find("\r\n", start) - start);
  };
  const std::string timestamp = header("x-iot-timestamp");
  const std::string signature = header("x-iot-signature");
  const bool signed_ok =
      !timestamp.empty() &&
      signature == "sha256=" + alink::Sign(alink::SignMethod::kHmacSha256, secret_, timestamp + "." + body);
  (signed_ok ? good_signatures_ : bad_signatures_)++;
  nlohmann::json batch = nlohmann::json::parse(body, nullptr, false);
  int status = 400;
  if (batch.is_array()) {
    std::lock_guard lock(mutex_);
    status = answer_ ? answer_(batch) : 200;
    if (status / 100 == 2) {
      for (const auto& m : batch) {
        received_.push_back(Message{m.value("messageId", ""), m.value("topic", ""), m.value("deviceName", ""),
                                    m.value("payload", nlohmann::json::object())});
      }
    }
  }
  const std::string response =
      "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  (void)::send(client, response.data(), response.size(), MSG_NOSIGNAL);
}

}  // namespace iot::testing
