#include "stream/service.hpp"

#include <algorithm>
#include <chrono>

#include "http/dispatcher.hpp"
#include "http/problem.hpp"
#include "iot/common/log.hpp"
#include "stream/protocol.hpp"

namespace iot::api::stream {
namespace {

constexpr std::string_view kRoute = "/api/v1/stream";

void Send(const std::shared_ptr<Client>& client, std::string text) {
  client->Push(std::make_shared<const std::string>(std::move(text)));
}

}  // namespace

bool Service::IsStreamTarget(std::string_view target) { return target.substr(0, target.find('?')) == kRoute; }

void Service::Authorize(Request request, std::function<void(UpgradeDecision)> done) {
  const auto started = std::chrono::steady_clock::now();
  auto record = std::make_shared<AccessRecord>(AccessRecord{request.method, std::string(kRoute),
                                                            RedactedTarget(request.target),
                                                            request.request_id, request.remote_address});
  auto finish = [this, record, started, done = std::move(done)](UpgradeDecision decision) {
    const int status = decision.refusal ? decision.refusal->status : 101;
    (decision.refusal ? counters_.refused : counters_.accepted).fetch_add(1);
    LogAccess(*record, status, std::chrono::steady_clock::now() - started);
    done(std::move(decision));
  };
  if (auto error = ParseTarget(request)) {
    finish(UpgradeDecision{ToResponse(ApiError::BadRequest(*error)), nullptr});
    return;
  }
  if (request.method != "GET") {
    finish(UpgradeDecision{ToResponse(ApiError::MethodNotAllowed({"GET"})), nullptr});
    return;
  }
  std::string token(BearerToken(request.Header("authorization")));
  if (token.empty()) {
    if (auto q = request.Query("token")) {
      token = std::string(*q);
    }
  }
  if (token.empty()) {
    finish(UpgradeDecision{
        ToResponse(ApiError::Unauthorized("missing token: send Authorization: Bearer <token> or ?token=")),
        nullptr});
    return;
  }
  authenticator_.Authenticate(token, request.client_address, [this, finish](AuthResult result) mutable {
    if (!result.principal) {
      finish(UpgradeDecision{ToResponse(FromAuthResult(result)), nullptr});
      return;
    }
    // Every role (viewer and up) may read the stream.
    auto client =
        std::make_shared<Client>(next_client_id_.fetch_add(1), std::move(*result.principal), settings_.queue);
    counters_.clients.fetch_add(1);
    {
      std::lock_guard lock(clients_mutex_);
      clients_.emplace(client->Id(), client);
    }
    finish(UpgradeDecision{std::nullopt, std::move(client)});
  });
}

void Service::OnMessage(const std::shared_ptr<Client>& client, std::string_view message, bool text) {
  if (!text) {
    counters_.bad_messages.fetch_add(1);
    Send(client, ErrorMessage("badRequest", "send JSON commands in text frames", nullptr));
    return;
  }
  auto parsed = ParseClientMessage(message);
  if (auto* error = std::get_if<ProtocolError>(&parsed)) {
    counters_.bad_messages.fetch_add(1);
    if (error->close_code != 0) {
      hub_.Remove(client);
      client->RequestClose(error->close_code, error->message);
      return;
    }
    Send(client, ErrorMessage("badRequest", error->message, nullptr));
    return;
  }
  Command command = std::get<Command>(std::move(parsed));
  Subscription subscription{command.product_key, command.device_name};
  if (command.kind == Command::Kind::kUnsubscribe) {
    if (hub_.Unsubscribe(client, subscription)) {
      Send(client, AnswerMessage(command));
    } else {
      Send(client, ErrorMessage("notFound", "not subscribed", &command));
    }
    return;
  }
  std::weak_ptr<Client> weak = client;
  checker_.Check(
      command.product_key, command.device_name, [this, weak, command](SubscriptionChecker::Verdict verdict) {
        auto client = weak.lock();
        if (!client) {
          return;  // gone meanwhile
        }
        using V = SubscriptionChecker::Verdict;
        switch (verdict) {
          case V::kUnknownProduct:
            Send(client, ErrorMessage("notFound", "unknown product", &command));
            return;
          case V::kUnknownDevice: Send(client, ErrorMessage("notFound", "unknown device", &command)); return;
          case V::kUnavailable:
            Send(client, ErrorMessage("unavailable", "database unavailable or busy, retry", &command));
            return;
          case V::kOk: break;
        }
        if (client->Overflowed()) {
          return;
        }
        const auto added =
            hub_.Subscribe(client, {command.product_key, command.device_name}, settings_.max_subscriptions);
        if (added == Hub::AddResult::kClosed) {
          return;
        }
        if (added == Hub::AddResult::kTooMany) {
          Send(client, ErrorMessage("tooManySubscriptions",
                                    "at most " + std::to_string(settings_.max_subscriptions) +
                                        " subscriptions per connection",
                                    &command));
          return;
        }
        if (added == Hub::AddResult::kAdded && gate_) {
          gate_([client, answer = AnswerMessage(command)] { Send(client, answer); });
          return;
        }
        Send(client, AnswerMessage(command));  // also when it already was subscribed
      });
}

void Service::OnSlow(const std::shared_ptr<Client>& client) {
  client->Close();
  hub_.Remove(client);
  counters_.slow_disconnects.fetch_add(1);
  IOT_LOG_INFO("api.stream", "msg=\"slow client closed (1008)\" client=" << client->Id() << " who="
                                                                         << log::Quote(client->Who().name));
}

void Service::OnClosed(const std::shared_ptr<Client>& client) {
  client->Close();
  hub_.Remove(client);
  counters_.clients.fetch_sub(1);
  std::lock_guard lock(clients_mutex_);
  clients_.erase(client->Id());
}

std::vector<std::int64_t> Service::OpenTokenIds() {
  std::vector<std::int64_t> ids;
  std::lock_guard lock(clients_mutex_);
  for (const auto& [id, weak] : clients_) {
    if (auto client = weak.lock(); client && !client->Closed() && client->Who().token_id != 0) {
      ids.push_back(client->Who().token_id);
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

void Service::CloseTokens(std::optional<std::int64_t> revoked_token_id, std::int64_t now_ms) {
  std::vector<std::pair<std::shared_ptr<Client>, const char*>> closing;
  {
    std::lock_guard lock(clients_mutex_);
    for (const auto& [id, weak] : clients_) {
      auto client = weak.lock();
      if (!client || client->Closed()) {
        continue;  // gone, or already closing
      }
      const Principal& who = client->Who();
      if (revoked_token_id && who.token_id == *revoked_token_id) {
        closing.emplace_back(std::move(client), "token revoked");
      } else if (who.expires_at_ms && *who.expires_at_ms <= now_ms) {
        closing.emplace_back(std::move(client), "token expired");
      }
    }
  }
  for (auto& [client, why] : closing) {
    hub_.Remove(client);
    client->RequestClose(kCloseTokenInvalid, why);
    IOT_LOG_INFO("api.stream",
                 "msg=\"stream closed (4401)\" client=" << client->Id() << " why=\"" << why
                                                        << "\" who=" << log::Quote(client->Who().name));
  }
}

}  // namespace iot::api::stream
