#include "iot/testing/device_client.hpp"

#include <mqtt/async_client.h>

#include "iot/alink/credentials.hpp"

namespace iot::testing {

MqttTestClient::MqttTestClient() = default;

MqttTestClient::~MqttTestClient() { Disconnect(); }

int MqttTestClient::ConnectDevice(const DeviceConnect& o) {
  const auto method =
      iot::alink::ParseSignMethod(o.sign_method).value_or(iot::alink::SignMethod::kHmacSha256);
  const auto params =
      iot::alink::MakeConnectParams(o.product_key, o.device_name, o.device_secret, method, o.timestamp);
  return DoConnect(o.uri, o.client_id.value_or(params.client_id), o.username.value_or(params.username),
                   o.password.value_or(params.password), o.mqtt_version, o.clean_session, o.keepalive_s,
                   o.ca_file);
}

int MqttTestClient::Connect(const std::string& uri, const std::string& client_id, const std::string& username,
                            const std::string& password, int mqtt_version, bool clean_session) {
  return DoConnect(uri, client_id, username, password, mqtt_version, clean_session, 60);
}

int MqttTestClient::DoConnect(const std::string& uri, const std::string& client_id,
                              const std::string& username, const std::string& password, int mqtt_version,
                              bool clean_session, int keepalive_s, const std::string& ca_file) {
  Disconnect();
  client_id_ = client_id;
  mqtt_version_ = mqtt_version;
  {
    std::lock_guard lock(mutex_);
    lost_ = false;
  }
  mqtt::create_options create(mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
  try {
    client_ = std::make_unique<mqtt::async_client>(uri, client_id, create, nullptr);
  } catch (const mqtt::exception&) {
    return -1;  // refused by Paho itself (e.g. a client id that is not UTF-8)
  }
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    std::lock_guard lock(mutex_);
    messages_.push_back({msg->get_topic(), msg->to_string(), msg->get_qos()});
    cv_.notify_all();
  });
  client_->set_connection_lost_handler([this](const std::string&) {
    std::lock_guard lock(mutex_);
    lost_ = true;
    cv_.notify_all();
  });
  auto builder = mqtt::connect_options_builder()
                     .keep_alive_interval(std::chrono::seconds(keepalive_s))
                     .connect_timeout(std::chrono::seconds(5))
                     .automatic_reconnect(false);
  if (mqtt_version == 5) {
    builder.mqtt_version(MQTTVERSION_5).clean_start(clean_session);
  } else {
    builder.mqtt_version(MQTTVERSION_3_1_1).clean_session(clean_session);
  }
  if (!username.empty()) {
    builder.user_name(username);
  }
  if (!password.empty()) {
    builder.password(password);
  }
  if (!ca_file.empty()) {
    builder.ssl(mqtt::ssl_options_builder().trust_store(ca_file).enable_server_cert_auth(true).finalize());
  }
  try {
    client_->connect(builder.finalize())->wait();
    return 0;
  } catch (const mqtt::exception& e) {
    const int rc = e.get_reason_code() != 0 ? e.get_reason_code() : e.get_return_code();
    client_.reset();
    return rc > 0 ? rc : -1;
  } catch (const std::exception&) {
    client_.reset();
    return -1;
  }
}

void MqttTestClient::Disconnect() {
  if (!client_) {
    return;
  }
  try {
    if (client_->is_connected()) {
      client_->disconnect()->wait_for(std::chrono::seconds(5));
    }
  } catch (const mqtt::exception&) {
  }
  client_.reset();
}

bool MqttTestClient::IsConnected() const { return client_ && client_->is_connected(); }

int MqttTestClient::Subscribe(const std::string& filter, int qos) {
  if (!client_) {
    return 128;
  }
  try {
    auto token = client_->subscribe(filter, qos);
    token->wait();
    const auto response = token->get_subscribe_response();
    const auto codes = response.get_reason_codes();
    return codes.empty() ? qos : static_cast<int>(codes.front());
  } catch (const mqtt::exception& e) {
    return e.get_reason_code() >= 128 ? e.get_reason_code() : 128;
  }
}

bool MqttTestClient::Publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  if (!client_) {
    return false;
  }
  try {
    auto token = client_->publish(topic, payload.data(), payload.size(), qos, retain);
    return token->wait_for(std::chrono::seconds(5)) && token->get_reason_code() < 128;
  } catch (const mqtt::exception&) {
    return false;
  }
}

std::optional<ReceivedMessage> MqttTestClient::WaitMessage(const std::string& topic,
                                                           std::chrono::milliseconds timeout) {
  return WaitMessageWhere([&](const ReceivedMessage& m) { return topic.empty() || m.topic == topic; },
                          timeout);
}

std::optional<ReceivedMessage> MqttTestClient::WaitMessageWhere(
    const std::function<bool(const ReceivedMessage&)>& match, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (auto it = messages_.begin(); it != messages_.end(); ++it) {
      if (match(*it)) {
        ReceivedMessage found = std::move(*it);
        messages_.erase(it);
        return found;
      }
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (auto it = messages_.begin(); it != messages_.end(); ++it) {
        if (match(*it)) {
          ReceivedMessage found = std::move(*it);
          messages_.erase(it);
          return found;
        }
      }
      return std::nullopt;
    }
  }
}

bool MqttTestClient::WaitDisconnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return lost_; });
}

std::size_t MqttTestClient::Pending() {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

}  // namespace iot::testing
