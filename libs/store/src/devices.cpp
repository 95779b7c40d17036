#include "iot/store/devices.hpp"

#include <nlohmann/json.hpp>

#include "connection.hpp"
#include "forwarding_tx.hpp"

namespace iot::store {
namespace {

// The last column is the device's gateway as "pk/dn" (NULL when none; product keys have no '/').
#define IOT_DEVICE_COLUMNS                                                                          \
  "id, product_key, device_name, nickname, secret, enabled, status, iot_ms(created_at), "           \
  "iot_ms(activated_at), iot_ms(last_online_at), iot_ms(last_offline_at), ip_address, tags::text, " \
  "iot_id, (SELECT g.product_key || '/' || g.device_name FROM device_topology t "                   \
  "JOIN devices g ON g.id = t.gateway_id WHERE t.device_id = devices.id)"

// Registration state for the broker plugin (same rule as store::LookupRegistration).
#define IOT_DEVICE_REGISTRATION_COLUMNS                                                                  \
  "p.product_secret, p.dynamic_registration, (d.status = 'unactive' OR (d.registration_reset_at IS NOT " \
  "NULL "                                                                                                \
  "AND (d.last_online_at IS NULL OR d.registration_reset_at > d.last_online_at)))"

// The device's gateway (sub-devices; '' for others).
#define IOT_DEVICE_GATEWAY_JOIN                                                                            \
  " FROM devices d JOIN products p USING (product_key) LEFT JOIN device_topology t ON t.device_id = d.id " \
  "LEFT JOIN devices g ON g.id = t.gateway_id"

const Statement kProductExists{"dev_product_exists", "SELECT 1 FROM products WHERE product_key = $1"};
const Statement kInsert{"dev_insert",
                        "INSERT INTO devices (product_key, device_name, nickname, secret, iot_id) "
                        "VALUES ($1, $2, $3, $4, $5) RETURNING " IOT_DEVICE_COLUMNS};
// Batch: one statement for all rows, so the batch is all-or-nothing and one round trip.
const Statement kInsertBatch{
    "dev_insert_batch",
    "INSERT INTO devices (product_key, device_name, nickname, secret, iot_id) "
    "SELECT $1, x.n, x.k, x.s, x.i FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (n text, k text, s text, "
    "i text)) WITH ORDINALITY AS x(n, k, s, i, o) ORDER BY x.o RETURNING " IOT_DEVICE_COLUMNS};
// Import pre-check: which rows ($2 = [[name, iotId], ...]) name an existing device or iotId.
const Statement kImportConflicts{
    "dev_import_conflicts",
    "SELECT x.o - 1, EXISTS (SELECT 1 FROM devices d WHERE d.product_key = $1 AND d.device_name = x.v->>0), "
    "EXISTS (SELECT 1 FROM devices d WHERE d.iot_id = x.v->>1) "
    "FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(v, o) "
    "WHERE EXISTS (SELECT 1 FROM devices d WHERE d.product_key = $1 AND d.device_name = x.v->>0) "
    "OR EXISTS (SELECT 1 FROM devices d WHERE d.iot_id = x.v->>1) ORDER BY x.o"};
const Statement kGet{
    "dev_get", "SELECT " IOT_DEVICE_COLUMNS " FROM devices WHERE product_key = $1 AND device_name = $2"};
const Statement kGetById{"dev_get_by_id", "SELECT " IOT_DEVICE_COLUMNS " FROM devices WHERE id = $1"};
// $3 status filter ('' any, 'disabled', or a status of enabled devices); $4 ILIKE pattern ('' none).
const Statement kList{
    "dev_list",
    "SELECT " IOT_DEVICE_COLUMNS
    " FROM devices WHERE product_key = $1 AND id > $2 "
    "AND ($3 = '' OR ($3 = 'disabled' AND NOT enabled) OR ($3 <> 'disabled' AND enabled AND status = $3)) "
    "AND ($4 = '' OR device_name ILIKE $4 ESCAPE '\\' OR nickname ILIKE $4 ESCAPE '\\') "
    "AND ($5::text IS NULL OR tags @> jsonb_build_object($5::text, $6::text)) "
    "AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM device_topology t JOIN devices g ON g.id = t.gateway_id "
    "WHERE t.device_id = devices.id AND g.product_key = $8 AND g.device_name = $9)) "
    "ORDER BY id LIMIT $7"};
const Statement kPatch{"dev_patch",
                       "UPDATE devices SET nickname = coalesce($3, nickname), "
                       "enabled = coalesce($4, enabled) WHERE product_key = $1 AND device_name = $2 "
                       "RETURNING " IOT_DEVICE_COLUMNS};
const Statement kFindId{"dev_find_id",
                        "SELECT id FROM devices WHERE product_key = $1 AND device_name = $2 FOR UPDATE"};
const Statement kDelHistory{"dev_del_history", "DELETE FROM property_posts WHERE device_id = $1"};
const Statement kDelBlocks{"dev_del_blocks", "DELETE FROM property_blocks WHERE device_id = $1"};
const Statement kDelRollups{"dev_del_rollups", "DELETE FROM property_rollups WHERE device_id = $1"};
const Statement kDelLate{"dev_del_late", "DELETE FROM rollup_pending WHERE device_id = $1"};
const Statement kDelEvents{"dev_del_events", "DELETE FROM events WHERE device_id = $1"};
const Statement kDelRejections{"dev_del_rejections", "DELETE FROM rejections WHERE device_id = $1"};
const Statement kDelCalls{"dev_del_calls", "DELETE FROM service_calls WHERE device_id = $1"};
const Statement kDelDedupe{"dev_del_dedupe", "DELETE FROM message_dedupe WHERE device_id = $1"};
const Statement kDelDevice{"dev_del_device", "DELETE FROM devices WHERE id = $1"};
const Statement kTagsMerge{"dev_tags_merge", "UPDATE devices SET tags = tags || $2::jsonb WHERE id = $1"};
const Statement kTagsDelete{
    "dev_tags_delete",
    "UPDATE devices SET tags = tags - ARRAY(SELECT jsonb_array_elements_text($2::jsonb)) "
    "WHERE id = $1"};
// Applies only a newer sequence; `old` captures activated_at before the update.
const Statement kLifecycle{
    "dev_lifecycle",
    "WITH old AS (SELECT activated_at FROM devices WHERE id = $1) "
    "UPDATE devices SET status = CASE WHEN $2 THEN 'online' ELSE 'offline' END, status_seq = $4, "
    "last_online_at = CASE WHEN $2 THEN iot_ts($3) ELSE last_online_at END, "
    "last_offline_at = CASE WHEN $2 THEN last_offline_at ELSE iot_ts($3) END, "
    "activated_at = CASE WHEN $2 AND activated_at IS NULL THEN iot_ts($3) ELSE activated_at END, "
    "ip_address = CASE WHEN $2 AND $5 <> '' THEN $5 ELSE ip_address END "
    "WHERE id = $1 AND status_seq < $4 "
    "RETURNING status, $2 AND (SELECT activated_at IS NULL FROM old)"};
const Statement kStatus{"dev_status", "SELECT status FROM devices WHERE id = $1"};
const Statement kAllOffline{"dev_all_offline",
                            "UPDATE devices SET status = 'offline', last_offline_at = iot_ts($1) "
                            "WHERE status = 'online'"};
const Statement kLookup{
    "dev_lookup",
    "SELECT d.id, d.product_key, d.device_name, d.secret, d.enabled, p.node_type, "
    "p.validation, p.retention_days, coalesce(p.timestamp_window_s, 0), " IOT_DEVICE_REGISTRATION_COLUMNS
    ", coalesce(g.product_key, ''), coalesce(g.device_name, ''), d.iot_id " IOT_DEVICE_GATEWAY_JOIN
    " WHERE d.product_key = $1 AND d.device_name = $2"};
const Statement kListAuth{
    "dev_list_auth",
    "SELECT d.id, d.product_key, d.device_name, d.secret, d.enabled, p.node_type, "
    "p.validation, p.retention_days, coalesce(p.timestamp_window_s, 0), " IOT_DEVICE_REGISTRATION_COLUMNS
    ", coalesce(g.product_key, ''), coalesce(g.device_name, ''), d.iot_id " IOT_DEVICE_GATEWAY_JOIN};

DeviceAuthInfo ReadAuth(const pqxx::row& row) {
  DeviceAuthInfo out;
  out.device_id = row[0].as<std::int64_t>();
  out.product_key = row[1].as<std::string>();
  out.device_name = row[2].as<std::string>();
  out.secret = row[3].as<std::string>();
  out.enabled = row[4].as<bool>();
  Parse(row[5].as<std::string>(), out.node_type);
  Parse(row[6].as<std::string>(), out.validation);
  out.retention_days = row[7].as<int>();
  out.timestamp_window_s = row[8].as<int>();
  out.product_secret = row[9].as<std::string>();
  out.dynamic_registration = row[10].as<bool>();
  out.registrable = row[11].as<bool>();
  out.gateway_product_key = row[12].as<std::string>();
  out.gateway_device_name = row[13].as<std::string>();
  out.iot_id = row[14].as<std::string>();
  return out;
}

Device ReadDevice(const pqxx::row& r) {
  Device d;
  d.id = r[0].as<std::int64_t>();
  d.product_key = r[1].as<std::string>();
  d.device_name = r[2].as<std::string>();
  d.nickname = r[3].as<std::string>();
  d.secret = r[4].as<std::string>();
  d.enabled = r[5].as<bool>();
  Parse(r[6].as<std::string>(), d.status);
  d.created_at = r[7].as<TimeMs>();
  d.activated_at = Opt<TimeMs>(r[8]);
  d.last_online_at = Opt<TimeMs>(r[9]);
  d.last_offline_at = Opt<TimeMs>(r[10]);
  d.ip_address = r[11].as<std::string>();
  auto tags = nlohmann::json::parse(r[12].c_str(), nullptr, false);
  if (tags.is_object()) {
    for (auto& [k, v] : tags.items()) {
      d.tags[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  d.iot_id = r[13].as<std::string>();
  if (const auto gateway = Opt<std::string>(r[14])) {
    const auto slash = gateway->find('/');
    d.gateway_product_key = gateway->substr(0, slash);
    d.gateway_device_name = slash == std::string::npos ? std::string() : gateway->substr(slash + 1);
  }
  return d;
}

// ILIKE pattern matching `text` literally anywhere ('\' is the escape character).
std::string ContainsPattern(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

std::string_view StatusFilterName(DeviceStatusFilter f) {
  switch (f) {
    case DeviceStatusFilter::kAny: return "";
    case DeviceStatusFilter::kUnactive: return "unactive";
    case DeviceStatusFilter::kOnline: return "online";
    case DeviceStatusFilter::kOffline: return "offline";
    case DeviceStatusFilter::kDisabled: return "disabled";
  }
  return "";
}

}  // namespace

std::string GenerateDeviceSecret() { return RandomAlnum(32); }
std::string GenerateDeviceName() { return RandomAlnum(16); }
std::string GenerateIotId() { return RandomAlnum(26); }

Result<Device> CreateDevice(Db& db, std::string_view product_key, const DeviceCreate& request) {
  const std::string name = request.device_name.value_or(GenerateDeviceName());
  const std::string secret = request.secret.value_or(GenerateDeviceSecret());
  const std::string iot_id = request.iot_id.value_or(GenerateIotId());
  return Run(db, [&](pqxx::connection& c) -> Result<Device> {
    pqxx::work tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kInsert, S(product_key), name, request.nickname, secret, iot_id);
    tx.commit();
    return ReadDevice(r[0]);
  });
}

namespace {

// The rows of kInsertBatch, names, secrets and iotIds generated where absent.
nlohmann::json BatchRows(const std::vector<DeviceCreate>& requests) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& req : requests) {
    rows.push_back({{"n", req.device_name.value_or(GenerateDeviceName())},
                    {"k", req.nickname},
                    {"s", req.secret.value_or(GenerateDeviceSecret())},
                    {"i", req.iot_id.value_or(GenerateIotId())}});
  }
  return rows;
}

std::vector<Device> InsertBatch(pqxx::work& tx, std::string_view product_key, const nlohmann::json& rows) {
  auto r = Exec(tx, kInsertBatch, S(product_key),
                rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::vector<Device> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    out.push_back(ReadDevice(row));
  }
  return out;
}

}  // namespace

Result<std::vector<Device>> CreateDevices(Db& db, std::string_view product_key,
                                          const std::vector<DeviceCreate>& requests) {
  if (requests.empty() || requests.size() > static_cast<std::size_t>(kMaxBatchDevices)) {
    return make_error_code(Errc::kInvalid);
  }
  const nlohmann::json rows = BatchRows(requests);
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<Device>> {
    pqxx::work tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto out = InsertBatch(tx, product_key, rows);
    tx.commit();
    return out;
  });
}

Result<ImportOutcome> ImportDevices(Db& db, std::string_view product_key,
                                    const std::vector<DeviceCreate>& requests) {
  if (requests.empty() || requests.size() > static_cast<std::size_t>(kMaxImportDevices)) {
    return make_error_code(Errc::kInvalid);
  }
  const nlohmann::json rows = BatchRows(requests);
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& row : rows) {
    keys.push_back({row["n"], row["i"]});
  }
  const std::string keys_json = keys.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return Run(db, [&](pqxx::connection& c) -> Result<ImportOutcome> {
    pqxx::work tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    ImportOutcome out;
    for (const auto& row : Exec(tx, kImportConflicts, S(product_key), keys_json)) {
      const auto index = row[0].as<std::size_t>();
      const auto& name = rows[index]["n"].get_ref<const std::string&>();
      out.conflicts.push_back(
          {index, row[1].as<bool>()
                      ? "device " + name + " exists already in product " + S(product_key)
                      : "iotId " + rows[index]["i"].get<std::string>() + " belongs to another device"});
    }
    if (!out.conflicts.empty()) {
      return out;  // the transaction rolls back: nothing was written
    }
    out.devices = InsertBatch(tx, product_key, rows);  // a concurrent insert: 23505 -> kConflict
    tx.commit();
    return out;
  });
}

Result<Device> GetDevice(Db& db, std::string_view product_key, std::string_view device_name) {
  return Run(db, [&](pqxx::connection& c) -> Result<Device> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGet, S(product_key), S(device_name));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadDevice(r[0]);
  });
}

Result<Device> GetDeviceById(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<Device> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetById, device_id);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadDevice(r[0]);
  });
}

Result<Page<Device>> ListDevices(Db& db, std::string_view product_key, const DeviceFilter& filter) {
  std::int64_t after = 0;
  if (!ValidLimit(filter.page.limit) ||
      (!filter.page.cursor.empty() && !ParseIdCursor(filter.page.cursor, after))) {
    return make_error_code(Errc::kInvalid);
  }
  const std::string pattern = filter.search.empty() ? std::string() : ContainsPattern(filter.search);
  std::optional<std::string> tag_key;
  std::optional<std::string> tag_value;
  if (filter.tag) {
    tag_key = filter.tag->first;
    tag_value = filter.tag->second;
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<Device>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    std::optional<std::string> gateway_pk;
    std::optional<std::string> gateway_dn;
    if (filter.gateway) {
      gateway_pk = filter.gateway->first;
      gateway_dn = filter.gateway->second;
    }
    auto r = Exec(tx, kList, S(product_key), after, S(StatusFilterName(filter.status)), pattern, tag_key,
                  tag_value, filter.page.limit + 1, gateway_pk, gateway_dn);
    Page<Device> out;
    for (const auto& row : r) {
      if (static_cast<int>(out.items.size()) == filter.page.limit) {
        out.next_cursor = std::to_string(out.items.back().id);
        break;
      }
      out.items.push_back(ReadDevice(row));
    }
    return out;
  });
}

Result<Device> PatchDevice(Db& db, std::string_view product_key, std::string_view device_name,
                           const DevicePatch& patch) {
  return Run(db, [&](pqxx::connection& c) -> Result<Device> {
    pqxx::work tx(c);
    auto r = Exec(tx, kPatch, S(product_key), S(device_name), patch.nickname, patch.enabled);
    tx.commit();
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadDevice(r[0]);
  });
}

Result<void> DeleteDevice(Db& db, std::string_view product_key, std::string_view device_name) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    auto r = Exec(tx, kFindId, S(product_key), S(device_name));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    const auto id = r[0][0].as<std::int64_t>();
    for (const auto* st : {&kDelHistory, &kDelBlocks, &kDelRollups, &kDelLate, &kDelEvents, &kDelRejections,
                           &kDelCalls, &kDelDedupe, &kDelDevice}) {
      Exec(tx, *st, id);
    }
    tx.commit();
    return {};
  });
}

Result<void> UpdateDeviceTags(Db& db, std::int64_t device_id,
                              const std::map<std::string, std::string>& tags) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& [k, v] : tags) {
    obj[k] = v;
  }
  const std::string text = obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    auto r = Exec(tx, kTagsMerge, device_id, text);
    tx.commit();
    if (r.affected_rows() == 0) {
      return make_error_code(Errc::kNotFound);
    }
    return {};
  });
}

Result<void> DeleteDeviceTags(Db& db, std::int64_t device_id, const std::vector<std::string>& keys) {
  nlohmann::json arr = keys;
  const std::string text = arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    auto r = Exec(tx, kTagsDelete, device_id, text);
    tx.commit();
    if (r.affected_rows() == 0) {
      return make_error_code(Errc::kNotFound);
    }
    return {};
  });
}

Result<std::vector<LifecycleResult>> ApplyLifecycles(Db& db, std::span<const LifecycleEvent> events) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<LifecycleResult>> {
    pqxx::work tx(c);
    std::vector<LifecycleResult> out(events.size());
    std::vector<std::int64_t> forward_devices;
    std::vector<const ForwardMessage*> forward;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      auto r = Exec(tx, kLifecycle, e.device_id, e.online, e.time, e.sequence, e.ip_address);
      if (r.empty()) {  // stale sequence (ignored) or no such device
        auto s = Exec(tx, kStatus, e.device_id);
        if (s.empty()) {
          out[i].found = false;
        } else {
          Parse(s[0][0].as<std::string>(), out[i].status);
        }
        continue;
      }
      out[i].applied = true;
      Parse(r[0][0].as<std::string>(), out[i].status);
      out[i].first_activation = r[0][1].as<bool>();
      for (const auto& f : e.forward) {
        forward_devices.push_back(e.device_id);
        forward.push_back(&f);
      }
    }
    WriteOutbox(tx, forward_devices, forward);
    tx.commit();
    return out;
  });
}

Result<LifecycleResult> ApplyLifecycle(Db& db, const LifecycleEvent& e) {
  auto r = ApplyLifecycles(db, std::span(&e, 1));
  if (!r) {
    return r.error();
  }
  if (!r->front().found) {
    return make_error_code(Errc::kNotFound);
  }
  return r->front();
}

Result<std::int64_t> MarkAllOffline(Db& db, TimeMs time) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    auto r = Exec(tx, kAllOffline, time);
    tx.commit();
    return static_cast<std::int64_t>(r.affected_rows());
  });
}

Result<DeviceAuthInfo> LookupDevice(Db& db, std::string_view product_key, std::string_view device_name) {
  return Run(db, [&](pqxx::connection& c) -> Result<DeviceAuthInfo> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kLookup, S(product_key), S(device_name));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadAuth(r[0]);
  });
}

Result<std::vector<DeviceAuthInfo>> ListAllDeviceAuth(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<DeviceAuthInfo>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kListAuth);
    std::vector<DeviceAuthInfo> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(ReadAuth(row));
    }
    return out;
  });
}

}  // namespace iot::store
