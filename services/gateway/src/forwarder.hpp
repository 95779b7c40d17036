#pragma once

// The forwarder: delivers the outbox (iot/store/forwarding.hpp) to the rules' destinations. One thread
// with its own database connection, inside iot-gateway (README: Forwarding). Several gateways share the
// rules through a lease per rule: only its holder reads, delivers and moves the rule's cursor, so a
// message is delivered twice only when a holder dies (or loses its lease) between a delivery and the
// cursor move: at least once, per device in order.
//
// Per rule and round: read up to `batch_max` messages after the cursor, POST them to every destination,
// move the cursor when all took them. On a failure the cursor stays and the rule waits (backoff
// doubling from retry_min to retry_max), and the next attempts carry the head message alone, so one
// message a destination refuses cannot hold back the others: after max_attempts failed attempts, after
// failing for max_age, or at once when the destination refuses it (a 4xx other than 408 and 429), it
// goes to the rule's dead letters and the cursor moves past it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "iot/store/db.hpp"
#include "iot/store/forwarding.hpp"
#include "metrics.hpp"

namespace iot::gateway {

struct ForwarderSettings {
  std::string holder;                          // lease holder name (unique per process)
  int batch_max = 500;                         // IOT_FORWARD_BATCH: messages per delivery
  std::chrono::milliseconds timeout{10000};    // IOT_FORWARD_TIMEOUT_MS: one HTTP call, all included
  int max_attempts = 10;                       // IOT_FORWARD_MAX_ATTEMPTS (0 = no limit)
  std::int64_t max_age_s = 86400;              // IOT_FORWARD_MAX_AGE_S: failing this long (0 = no limit)
  std::chrono::milliseconds retry_min{500};    // first backoff after a failure
  std::chrono::milliseconds retry_max{60000};  // IOT_FORWARD_RETRY_MAX_MS
  std::chrono::milliseconds poll{100};         // idle wait between rounds
  std::chrono::milliseconds lease_ttl{15000};  // a dead holder's rules are taken over after this
  std::chrono::seconds prune_interval{2};      // outbox upkeep (store::PruneOutbox)
  std::chrono::seconds slot_age{10};           // an outbox slot takes writes this long before the next
};

// What one destination did with a batch.
struct Delivery {
  enum class Outcome { kDelivered, kRetry, kRefused };
  Outcome outcome = Outcome::kDelivered;
  std::string error;  // kRetry, kRefused: why
};

// 2xx delivered; 408, 429 and 5xx (and anything unexpected) retried; another 4xx refused.
Delivery::Outcome OutcomeOfStatus(int status);

// One message with its envelope: {"topic","messageId","productKey","deviceName","iotId","payload"}.
void AppendEnvelope(std::string& out, const store::OutboxMessage& m);
// The webhook's body: a JSON array of envelopes.
std::string WebhookBody(const std::vector<store::OutboxMessage>& batch);
// The AMQP routing key of a forwarded topic: "/pk/dn/thing/event/property/post" becomes
// "pk.dn.thing.event.property.post" (at most 255 bytes, the protocol's limit).
std::string AmqpRoutingKey(std::string_view topic);
// An AMQP 1.0 application-properties section (encoded) holding {"topic","messageId","generateTime"}, the
// application properties of Alibaba's AMQP server-side subscription. Sent in the 0-9-1 header
// "x-amqp-1.0-app-properties", which RabbitMQ's AMQP 1.0 plugin hands to 1.0 consumers as the message's
// application properties (README: Forwarding to AMQP 1.0 consumers).
std::string Amqp10AppProperties(std::string_view topic, std::string_view message_id,
                                std::int64_t generate_time);
// The Paho URI of an MQTT destination's url: mqtt:// and tcp:// become tcp://, mqtts:// and ssl://
// become ssl:// (a missing port: 1883, 8883); nullopt for anything else.
std::optional<std::string> MqttDestinationUri(std::string_view url);
// "sha256=<lower-case hex HMAC-SHA256(secret, timestamp + "." + body)>".
std::string WebhookSignature(std::string_view secret, std::string_view timestamp, std::string_view body);

// A rule's destination; Deliver blocks (bounded by the timeout).
class Destination {
 public:
  virtual ~Destination() = default;
  virtual Delivery Deliver(const std::vector<store::OutboxMessage>& batch) = 0;
};

// A destination's own CA certificates (PEM text) as a private file, for the libraries that read only files
// (librabbitmq, Paho): mode 0600 in $TMPDIR (else /tmp), removed with this object. Empty text: no file, and
// Path() is empty (the system's CAs are used). Throws std::runtime_error when the file cannot be written.
class PemFile {
 public:
  explicit PemFile(const std::string& pem);
  ~PemFile();
  PemFile(const PemFile&) = delete;
  PemFile& operator=(const PemFile&) = delete;
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

// AMQP 0-9-1 (forward_amqp.cpp): publishes each message to the exchange with publisher confirms. `ca`:
// PEM certificates an amqps:// server must chain to ("" = the system's).
std::unique_ptr<Destination> MakeAmqpDestination(const std::string& url, const std::string& exchange,
                                                 const std::string& ca, std::chrono::milliseconds timeout);
// MQTT (forward_mqtt.cpp): republishes each message's envelope at QoS 1 to `topic`, waiting for the acks.
// `ca` as for AMQP, for ssl:// URIs.
std::unique_ptr<Destination> MakeMqttDestination(const std::string& uri, const std::string& topic,
                                                 const std::string& username, const std::string& password,
                                                 const std::string& ca, std::chrono::milliseconds timeout);

// The destinations of a rule's destinations JSON; a destination it cannot use becomes one that always
// fails with the reason (the API accepts only usable ones).
std::vector<std::unique_ptr<Destination>> MakeDestinations(const std::string& destinations_json,
                                                           std::chrono::milliseconds timeout);

class Forwarder {
 public:
  Forwarder(store::DbSettings db, ForwarderSettings settings, Metrics& metrics);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  void Start();
  void RequestStop();  // returns at once; Stop joins
  void Stop();

 private:
  struct RuleState {
    bool held = false;
    std::chrono::steady_clock::time_point lease_renew{};  // renew (or try to take) the lease from then
    std::chrono::steady_clock::time_point next_attempt{};
    std::string destinations_json;
    std::vector<std::unique_ptr<Destination>> destinations;
  };
  void Loop();
  // True when it moved a whole batch (more may be waiting).
  bool Serve(const store::ForwardRule& rule, RuleState& state);
  bool Lease(std::int64_t rule_id, RuleState& state);
  void UpdateLag(const std::vector<store::ForwardRule>& rules);
  void Wait(std::chrono::milliseconds delay);

  store::Db db_;
  ForwarderSettings settings_;
  Metrics& metrics_;
  std::map<std::int64_t, RuleState> states_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace iot::gateway
