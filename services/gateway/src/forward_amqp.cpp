// The AMQP 0-9-1 destination (librabbitmq): one connection per destination, opened on first use and
// again after any failure, channel 1 in confirm mode. A batch is published message by message to the
// rule's exchange (persistent, mandatory, routing key from the topic, the envelope's fields as headers
// and, for AMQP 1.0 consumers, as application properties; the forwarded body as the body), then the publisher
// confirms are awaited: the batch is delivered when the broker has confirmed every message and returned none.
// Everything here blocks (bounded by the timeout) and runs only on the forwarder's thread.

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "forwarder.hpp"

namespace iot::gateway {
namespace {

using Clock = std::chrono::steady_clock;

constexpr amqp_channel_t kChannel = 1;
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

amqp_bytes_t Bytes(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());  // librabbitmq only reads it
  return b;
}

std::string Text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

timeval ToTimeval(std::chrono::milliseconds ms) {
  if (ms.count() < 1) {
    ms = std::chrono::milliseconds(1);
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// Why an RPC failed, in words.
std::string ReplyError(const amqp_rpc_reply_t& reply, const std::string& what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "";
    case AMQP_RESPONSE_NONE: return what + ": no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return what + ": " + amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        return what + ": the broker closed the connection: " + std::to_string(close->reply_code) + " " +
               Text(close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        return what + ": the broker closed the channel: " + std::to_string(close->reply_code) + " " +
               Text(close->reply_text);
      }
      return what + ": the broker answered method " + std::to_string(reply.reply.id);
  }
  return what + ": failed";
}

// The url's parts (amqp_parse_url points into the buffer it parses, so the buffer stays here).
struct Target {
  std::string host;
  int port = 5672;
  std::string vhost;
  std::string user;
  std::string password;
  bool ssl = false;
};

Target ParseTarget(const std::string& url) {
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info{};
  if (url.empty() || amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
    throw std::runtime_error("not an amqp:// or amqps:// URL");
  }
  Target t;
  t.host = info.host != nullptr ? info.host : "";
  t.port = info.port;
  t.vhost = info.vhost != nullptr && *info.vhost != '\0' ? info.vhost : "/";
  t.user = info.user != nullptr ? info.user : "";
  t.password = info.password != nullptr ? info.password : "";
  t.ssl = info.ssl != 0;
  if (t.host.empty()) {
    throw std::runtime_error("the AMQP URL names no host");
  }
  return t;
}

class AmqpDestination final : public Destination {
 public:
  AmqpDestination(Target target, std::string exchange, const std::string& ca,
                  std::chrono::milliseconds timeout)
      : target_(std::move(target)), exchange_(std::move(exchange)), ca_(ca), timeout_(timeout) {}
  ~AmqpDestination() override { Close(true); }
  AmqpDestination(const AmqpDestination&) = delete;
  AmqpDestination& operator=(const AmqpDestination&) = delete;

  Delivery Deliver(const std::vector<store::OutboxMessage>& batch) override {
    const auto deadline = Clock::now() + timeout_;
    if (conn_ == nullptr) {
      std::string error = Open();
      if (!error.empty()) {
        Close(false);
        return Delivery{Delivery::Outcome::kRetry, error};
      }
    }
    std::set<std::uint64_t> pending;
    for (const auto& m : batch) {
      const std::string key = AmqpRoutingKey(m.topic);
      const std::string app_properties = Amqp10AppProperties(m.topic, m.message_id, m.created_at);
      amqp_table_entry_t entries[7];
      auto text_entry = [](amqp_table_entry_t& e, const char* name, const std::string& value) {
        e.key = amqp_cstring_bytes(name);
        e.value.kind = AMQP_FIELD_KIND_UTF8;
        e.value.value.bytes = Bytes(value);
      };
      text_entry(entries[0], "topic", m.topic);
      text_entry(entries[1], "messageId", m.message_id);
      text_entry(entries[2], "productKey", m.product_key);
      text_entry(entries[3], "deviceName", m.device_name);
      text_entry(entries[4], "iotId", m.iot_id);
      entries[5].key = amqp_cstring_bytes("generateTime");
      entries[5].value.kind = AMQP_FIELD_KIND_I64;
      entries[5].value.value.i64 = m.created_at;
      entries[6].key = amqp_cstring_bytes("x-amqp-1.0-app-properties");
      entries[6].value.kind = AMQP_FIELD_KIND_BYTES;
      entries[6].value.value.bytes = Bytes(app_properties);
      amqp_basic_properties_t props{};
      props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                     AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG |
                     AMQP_BASIC_TYPE_FLAG;
      props.content_type = amqp_cstring_bytes("application/json");
      props.delivery_mode = 2;  // persistent
      props.message_id = Bytes(m.message_id);
      props.timestamp = static_cast<std::uint64_t>(m.created_at / 1000);
      props.type = Bytes(m.kind);
      props.headers.num_entries = 7;
      props.headers.entries = entries;
      const int rc = amqp_basic_publish(conn_, kChannel, Bytes(exchange_), Bytes(key), /*mandatory=*/1,
                                        /*immediate=*/0, &props, Bytes(m.payload_json));
      if (rc != AMQP_STATUS_OK) {
        Close(false);
        return Delivery{Delivery::Outcome::kRetry, std::string("AMQP publish: ") + amqp_error_string2(rc)};
      }
      pending.insert(++next_tag_);
    }
    std::string refused;  // a nack or a returned (unroutable) message
    while (!pending.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        Close(false);
        return Delivery{Delivery::Outcome::kRetry, "AMQP: no publisher confirm within the timeout"};
      }
      timeval tv = ToTimeval(left);
      amqp_frame_t frame{};
      const int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) {
        continue;
      }
      if (rc != AMQP_STATUS_OK) {
        Close(false);
        return Delivery{Delivery::Outcome::kRetry, std::string("AMQP connection: ") + amqp_error_string2(rc)};
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) {
        continue;
      }
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
          Settle(pending, ack->delivery_tag, ack->multiple != 0);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
          Settle(pending, nack->delivery_tag, nack->multiple != 0);
          refused = "AMQP: the broker did not take a message (basic.nack)";
          break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          const auto* ret = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
          refused = "AMQP: unroutable, no queue is bound to exchange \"" + exchange_ + "\" for it (" +
                    std::to_string(ret->reply_code) + " " + Text(ret->reply_text) + ")";
          amqp_message_t returned{};
          const auto reply = amqp_read_message(conn_, frame.channel, &returned, 0);
          if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
            Close(false);
            return Delivery{Delivery::Outcome::kRetry, ReplyError(reply, "AMQP")};
          }
          amqp_destroy_message(&returned);
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
          const auto* close = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
          std::string error = "AMQP: the broker closed the channel: " + std::to_string(close->reply_code) +
                              " " + Text(close->reply_text);
          amqp_channel_close_ok_t ok{};
          (void)amqp_send_method(conn_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
          Close(false);
          return Delivery{Delivery::Outcome::kRetry, std::move(error)};
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
          const auto* close = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
          std::string error = "AMQP: the broker closed the connection: " + std::to_string(close->reply_code) +
                              " " + Text(close->reply_text);
          amqp_connection_close_ok_t ok{};
          (void)amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
          Close(false);
          return Delivery{Delivery::Outcome::kRetry, std::move(error)};
        }
        default: break;
      }
      amqp_maybe_release_buffers(conn_);
    }
    if (!refused.empty()) {
      // Retried (a queue may be bound later); after the attempts it goes to the dead letters.
      return Delivery{Delivery::Outcome::kRetry, refused};
    }
    return {};
  }

 private:
  static void Settle(std::set<std::uint64_t>& pending, std::uint64_t tag, bool multiple) {
    if (multiple) {
      // tag 0 with `multiple`: every outstanding message.
      pending.erase(pending.begin(), tag == 0 ? pending.end() : pending.upper_bound(tag));
    } else {
      pending.erase(tag);
    }
  }

  // "" when connected, logged in, channel open in confirm mode; else why not.
  std::string Open() {
    conn_ = amqp_new_connection();
    if (conn_ == nullptr) {
      return "AMQP: out of memory";
    }
    amqp_socket_t* socket = target_.ssl ? amqp_ssl_socket_new(conn_) : amqp_tcp_socket_new(conn_);
    if (socket == nullptr) {
      return "AMQP: could not create a socket";
    }
    if (target_.ssl) {
      amqp_ssl_socket_set_verify_peer(socket, 1);
      amqp_ssl_socket_set_verify_hostname(socket, 1);
      if (!ca_.Path().empty()) {
        if (amqp_ssl_socket_set_cacert(socket, ca_.Path().c_str()) != AMQP_STATUS_OK) {
          return "AMQP: the destination's CA certificates are not valid PEM";
        }
      } else if (::access(kSystemCaBundle, R_OK) == 0 &&
                 amqp_ssl_socket_set_cacert(socket, kSystemCaBundle) != AMQP_STATUS_OK) {
        return "AMQP: could not read the system's CA certificates";
      }
    }
    timeval tv = ToTimeval(timeout_);
    amqp_set_handshake_timeout(conn_, &tv);
    amqp_set_rpc_timeout(conn_, &tv);
    const int rc = amqp_socket_open_noblock(socket, target_.host.c_str(), target_.port, &tv);
    if (rc != AMQP_STATUS_OK) {
      return "AMQP connect to " + target_.host + ":" + std::to_string(target_.port) + ": " +
             amqp_error_string2(rc);
    }
    auto reply = amqp_login(conn_, target_.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                            target_.user.c_str(), target_.password.c_str());
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      return ReplyError(reply, "AMQP login");
    }
    logged_in_ = true;
    amqp_channel_open(conn_, kChannel);
    reply = amqp_get_rpc_reply(conn_);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      return ReplyError(reply, "AMQP channel.open");
    }
    amqp_confirm_select(conn_, kChannel);
    reply = amqp_get_rpc_reply(conn_);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      return ReplyError(reply, "AMQP confirm.select");
    }
    next_tag_ = 0;
    return "";
  }

  // `orderly`: say goodbye first (a healthy connection when the rule changes or the gateway stops).
  void Close(bool orderly) {
    if (conn_ == nullptr) {
      return;
    }
    if (orderly && logged_in_) {
      (void)amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(conn_);  // closes the socket
    conn_ = nullptr;
    logged_in_ = false;
  }

  Target target_;
  std::string exchange_;
  PemFile ca_;
  std::chrono::milliseconds timeout_;
  amqp_connection_state_t conn_ = nullptr;
  bool logged_in_ = false;
  std::uint64_t next_tag_ = 0;
};

}  // namespace

std::unique_ptr<Destination> MakeAmqpDestination(const std::string& url, const std::string& exchange,
                                                 const std::string& ca, std::chrono::milliseconds timeout) {
  return std::make_unique<AmqpDestination>(ParseTarget(url), exchange, ca, timeout);
}

}  // namespace iot::gateway
