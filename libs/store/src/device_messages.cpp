#include "iot/store/device_messages.hpp"

#include "connection.hpp"
#include "forwarding_tx.hpp"
#include "iot/common/hex.hpp"
#include "iot/store/forwarded_writes.hpp"
#include "iot/store/maintenance.hpp"

namespace iot::store {
namespace {

// Payloads travel as hex text (decode/encode in SQL): bound parameters only, no binary parameter API.
#define IOT_MSG_COLUMNS                                                                                 \
  "id, device_id, direction, kind, topic, encode(payload, 'hex'), qos, status, message, requested_by, " \
  "iot_ms(ts), iot_ms(sent_at), iot_ms(expires_at), encode(reply, 'hex')"

const Statement kMsgDeviceExists{"msg_device_exists", "SELECT 1 FROM devices WHERE id = $1"};
const Statement kMsgInsert{
    "msg_insert",
    "INSERT INTO device_messages (device_id, direction, kind, topic, payload, qos, status, requested_by, "
    "ts, sent_at, expires_at) VALUES ($1, $2, $3, $4, decode($5, 'hex'), $6, $7, $8, "
    "coalesce(iot_ts($9), iot_now_ms()), iot_ts($10), iot_ts($11)) RETURNING " IOT_MSG_COLUMNS};
const Statement kMsgUpdate{
    "msg_update",
    "UPDATE device_messages SET status = $2, message = coalesce($3, message), "
    "sent_at = coalesce(iot_ts($4), sent_at), reply = coalesce(decode($5, 'hex'), reply) "
    "WHERE id = $1 AND ($6 = '' OR status = ANY (string_to_array($6, ','))) RETURNING " IOT_MSG_COLUMNS};
const Statement kMsgGet{"msg_get",
                        "SELECT " IOT_MSG_COLUMNS " FROM device_messages WHERE device_id = $1 AND id = $2"};
const Statement kMsgExists{"msg_exists", "SELECT 1 FROM device_messages WHERE id = $1"};
const Statement kMsgAsc{"msg_list_asc",
                        "SELECT " IOT_MSG_COLUMNS
                        " FROM device_messages WHERE device_id = $1 AND ($2 = '' OR direction = $2) "
                        "AND ts >= iot_ts($3) AND ts < iot_ts($4) AND (ts, id) > (iot_ts($5), $6) "
                        "ORDER BY ts, id LIMIT $7"};
const Statement kMsgDesc{"msg_list_desc",
                         "SELECT " IOT_MSG_COLUMNS
                         " FROM device_messages WHERE device_id = $1 AND ($2 = '' OR direction = $2) "
                         "AND ts >= iot_ts($3) AND ts < iot_ts($4) AND (ts, id) < (iot_ts($5), $6) "
                         "ORDER BY ts DESC, id DESC LIMIT $7"};
const Statement kMsgQueued{"msg_queued", "SELECT " IOT_MSG_COLUMNS
                                         " FROM device_messages WHERE device_id = $1 "
                                         "AND status = 'queued' ORDER BY id LIMIT $2"};
const Statement kMsgQueuedCount{"msg_queued_count",
                                "SELECT count(*) FROM device_messages WHERE device_id = $1 "
                                "AND status = 'queued'"};
const Statement kMsgDeliverable{
    "msg_deliverable",
    "SELECT d.id, d.product_key, d.device_name FROM devices d WHERE d.status = 'online' "
    "AND d.enabled AND d.last_online_at <= iot_ts($1) AND EXISTS (SELECT 1 FROM device_messages m "
    "WHERE m.device_id = d.id AND m.status = 'queued') ORDER BY d.id LIMIT $2"};
const Statement kMsgExpire{"msg_expire",
                           "UPDATE device_messages SET status = 'expired', "
                           "message = 'not delivered before its time to live' "
                           "WHERE status = 'queued' AND expires_at <= iot_ts($1)"};
const Statement kMsgPruneOld{
    "msg_prune_old",
    "DELETE FROM device_messages WHERE id = ANY (ARRAY(SELECT m.id FROM device_messages m "
    "JOIN devices d ON d.id = m.device_id JOIN products p ON p.product_key = d.product_key "
    "WHERE m.ts < iot_ts($1) - p.retention_days * interval '1 day' AND m.status <> 'queued' LIMIT $2))"};
const Statement kMsgPruneExcess{
    "msg_prune_excess",
    "DELETE FROM device_messages WHERE id = ANY (ARRAY(SELECT id FROM (SELECT id, row_number() OVER "
    "(PARTITION BY device_id, direction ORDER BY ts DESC, id DESC) AS n FROM device_messages) s "
    "WHERE n > $1 LIMIT $2))"};

DeviceMessage ReadMessage(const pqxx::row& r) {
  DeviceMessage m;
  m.id = r[0].as<std::int64_t>();
  m.device_id = r[1].as<std::int64_t>();
  m.direction = r[2].as<std::string>();
  m.kind = r[3].as<std::string>();
  m.topic = r[4].as<std::string>();
  m.payload = FromHex(r[5].as<std::string>()).value_or(std::string());
  m.qos = r[6].as<int>();
  m.status = r[7].as<std::string>();
  m.message = r[8].as<std::string>();
  m.requested_by = r[9].as<std::string>();
  m.ts = r[10].as<TimeMs>();
  m.sent_at = Opt<TimeMs>(r[11]);
  m.expires_at = Opt<TimeMs>(r[12]);
  if (auto reply = Opt<std::string>(r[13])) {
    m.reply = FromHex(*reply).value_or(std::string());
  }
  return m;
}

std::string JoinStatuses(const std::vector<std::string>& statuses) {
  std::string out;
  for (const auto& s : statuses) {
    if (!out.empty()) {
      out += ',';
    }
    out += s;
  }
  return out;
}

}  // namespace

Result<DeviceMessage> InsertDeviceMessage(Db& db, const DeviceMessageCreate& m) {
  return InsertDeviceMessageForwarded(db, m, {});
}

Result<DeviceMessage> InsertDeviceMessageForwarded(Db& db, const DeviceMessageCreate& m,
                                                   const std::vector<ForwardMessage>& forward) {
  if (m.payload.size() > kMaxMessagePayloadBytes) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<DeviceMessage> {
    pqxx::work tx(c);
    if (Exec(tx, kMsgDeviceExists, m.device_id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kMsgInsert, m.device_id, m.direction, m.kind, m.topic, ToHex(m.payload), m.qos,
                  m.status, m.requested_by, m.ts, m.sent_at, m.expires_at);
    if (!forward.empty()) {
      std::vector<const ForwardMessage*> messages;
      for (const auto& f : forward) {
        messages.push_back(&f);
      }
      WriteOutbox(tx, std::vector<std::int64_t>(messages.size(), m.device_id), messages);
    }
    tx.commit();
    return ReadMessage(r[0]);
  });
}

Result<DeviceMessage> GetDeviceMessage(Db& db, std::int64_t device_id, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<DeviceMessage> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kMsgGet, device_id, id);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadMessage(r[0]);
  });
}

Result<DeviceMessage> UpdateDeviceMessage(Db& db, std::int64_t id, const DeviceMessageUpdate& u) {
  if (u.reply && u.reply->size() > kMaxMessagePayloadBytes) {
    return make_error_code(Errc::kInvalid);
  }
  std::optional<std::string> reply_hex;
  if (u.reply) {
    reply_hex = ToHex(*u.reply);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<DeviceMessage> {
    pqxx::work tx(c);
    auto r = Exec(tx, kMsgUpdate, id, u.status, u.message, u.sent_at, reply_hex, JoinStatuses(u.from));
    if (r.empty()) {
      return make_error_code(Exec(tx, kMsgExists, id).empty() ? Errc::kNotFound : Errc::kConflict);
    }
    tx.commit();
    return ReadMessage(r[0]);
  });
}

Result<Page<DeviceMessage>> ListDeviceMessages(Db& db, std::int64_t device_id, std::string_view direction,
                                               const TimeQuery& q) {
  KeysetBounds b;
  if (!MakeBounds(q, b)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<DeviceMessage>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, q.order == Order::kAsc ? kMsgAsc : kMsgDesc, device_id, S(direction), b.from, b.to,
                  b.cursor_ts, b.cursor_id, q.limit + 1);
    Page<DeviceMessage> page;
    for (const auto& row : r) {
      if (static_cast<int>(page.items.size()) == q.limit) {
        page.next_cursor = FormatCursor(page.items.back().ts, page.items.back().id);
        break;
      }
      page.items.push_back(ReadMessage(row));
    }
    return page;
  });
}

Result<std::vector<DeviceMessage>> ListQueuedMessages(Db& db, std::int64_t device_id, int limit) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<DeviceMessage>> {
    pqxx::read_transaction tx(c);
    std::vector<DeviceMessage> out;
    for (const auto& row : Exec(tx, kMsgQueued, device_id, limit)) {
      out.push_back(ReadMessage(row));
    }
    return out;
  });
}

Result<std::int64_t> CountQueuedMessages(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::read_transaction tx(c);
    return Exec(tx, kMsgQueuedCount, device_id)[0][0].as<std::int64_t>();
  });
}

Result<std::vector<QueuedDevice>> ListDevicesWithQueuedMessages(Db& db, TimeMs online_before, int limit) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<QueuedDevice>> {
    pqxx::read_transaction tx(c);
    std::vector<QueuedDevice> out;
    for (const auto& row : Exec(tx, kMsgDeliverable, online_before, limit)) {
      out.push_back(
          QueuedDevice{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
    return out;
  });
}

Result<std::int64_t> ExpireDeviceMessages(Db& db, TimeMs now) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    auto r = Exec(tx, kMsgExpire, now);
    tx.commit();
    return static_cast<std::int64_t>(r.affected_rows());
  });
}

Result<std::int64_t> PruneDeviceMessages(Db& db, TimeMs now, int per_device) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    std::int64_t deleted = 0;
    for (const Statement* st : {&kMsgPruneOld, &kMsgPruneExcess}) {
      while (true) {  // short transactions of at most kRetentionDeleteBatch rows
        pqxx::work tx(c);
        auto r = st == &kMsgPruneOld ? Exec(tx, *st, now, kRetentionDeleteBatch)
                                     : Exec(tx, *st, per_device, kRetentionDeleteBatch);
        tx.commit();
        deleted += static_cast<std::int64_t>(r.affected_rows());
        if (r.affected_rows() < static_cast<std::size_t>(kRetentionDeleteBatch)) {
          break;
        }
      }
    }
    return deleted;
  });
}

}  // namespace iot::store
