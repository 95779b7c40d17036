#include "iot/store/topology.hpp"

#include "connection.hpp"

namespace iot::store {
namespace {

const Statement kLockGateway{"topo_lock_gateway", "SELECT id FROM devices WHERE id = $1 FOR UPDATE"};
const Statement kFindSub{"topo_find_sub",
                         "SELECT d.id, d.product_key, d.device_name, d.iot_id, d.enabled, d.status, "
                         "t.gateway_id FROM devices d LEFT JOIN device_topology t ON t.device_id = d.id "
                         "WHERE d.product_key = $1 AND d.device_name = $2 FOR UPDATE OF d"};
const Statement kCount{"topo_count", "SELECT count(*) FROM device_topology WHERE gateway_id = $1"};
// A concurrent add by another gateway wins the primary key: nothing inserted, refused as 6619.
const Statement kInsert{"topo_insert",
                        "INSERT INTO device_topology (device_id, gateway_id) VALUES ($1, $2) "
                        "ON CONFLICT (device_id) DO NOTHING"};
const Statement kDelete{"topo_delete",
                        "DELETE FROM device_topology t USING devices d WHERE t.device_id = d.id "
                        "AND t.gateway_id = $1 AND d.product_key = $2 AND d.device_name = $3 "
                        "RETURNING d.id, d.product_key, d.device_name, d.iot_id, d.enabled, d.status"};
const Statement kList{"topo_list",
                      "SELECT d.id, d.product_key, d.device_name, d.iot_id, d.enabled, d.status "
                      "FROM device_topology t JOIN devices d ON d.id = t.device_id WHERE t.gateway_id = $1 "
                      "ORDER BY d.id LIMIT 1500"};

const Statement kFoundUpsert{
    "topo_found_upsert",
    "INSERT INTO device_found (gateway_id, product_key, device_name, found_at) "
    "VALUES ($1, $2, $3, iot_ts($4)) ON CONFLICT (gateway_id, product_key, device_name) "
    "DO UPDATE SET found_at = excluded.found_at"};
const Statement kFoundPrune{
    "topo_found_prune",
    "DELETE FROM device_found f WHERE f.gateway_id = $1 AND (f.product_key, f.device_name) "
    "NOT IN (SELECT product_key, device_name FROM device_found WHERE gateway_id = $1 "
    "ORDER BY found_at DESC, product_key, device_name LIMIT 1500)"};
const Statement kFoundList{
    "topo_found_list",
    "SELECT product_key, device_name, iot_ms(found_at) FROM device_found "
    "WHERE gateway_id = $1 ORDER BY found_at DESC, product_key, device_name LIMIT 1500"};

SubDevice ReadSub(const pqxx::row& r) {
  SubDevice s;
  s.device_id = r[0].as<std::int64_t>();
  s.product_key = r[1].as<std::string>();
  s.device_name = r[2].as<std::string>();
  s.iot_id = r[3].as<std::string>();
  s.enabled = r[4].as<bool>();
  Parse(r[5].as<std::string>(), s.status);
  return s;
}

TopologyOutcome Refused(TopologyRefusal refusal, std::size_t index) {
  TopologyOutcome out;
  out.refusal = refusal;
  out.index = index;
  return out;
}

}  // namespace

Result<TopologyOutcome> AddTopology(Db& db, std::int64_t gateway_id, std::span<const DeviceRef> subs) {
  if (subs.size() > kMaxSubDevices) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<TopologyOutcome> {
    pqxx::work tx(c);
    if (Exec(tx, kLockGateway, gateway_id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    std::int64_t count = Exec(tx, kCount, gateway_id)[0][0].as<std::int64_t>();
    TopologyOutcome out;
    for (std::size_t i = 0; i < subs.size(); ++i) {
      auto r = Exec(tx, kFindSub, subs[i].product_key, subs[i].device_name);
      if (r.empty()) {
        return Refused(TopologyRefusal::kUnknownDevice, i);
      }
      SubDevice sub = ReadSub(r[0]);
      if (sub.device_id == gateway_id) {
        return Refused(TopologyRefusal::kSelf, i);
      }
      const auto bound = Opt<std::int64_t>(r[0][6]);
      if (bound && *bound != gateway_id) {
        return Refused(TopologyRefusal::kOtherGateway, i);
      }
      if (!bound) {
        if (count >= static_cast<std::int64_t>(kMaxSubDevices)) {
          return Refused(TopologyRefusal::kTooMany, i);
        }
        if (Exec(tx, kInsert, sub.device_id, gateway_id).affected_rows() == 0) {
          return Refused(TopologyRefusal::kOtherGateway, i);
        }
        ++count;
      }
      out.devices.push_back(std::move(sub));
    }
    tx.commit();
    return out;
  });
}

Result<TopologyOutcome> RemoveTopology(Db& db, std::int64_t gateway_id, std::span<const DeviceRef> subs) {
  if (subs.size() > kMaxSubDevices) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<TopologyOutcome> {
    pqxx::work tx(c);
    TopologyOutcome out;
    for (std::size_t i = 0; i < subs.size(); ++i) {
      auto r = Exec(tx, kDelete, gateway_id, subs[i].product_key, subs[i].device_name);
      if (r.empty()) {
        return Refused(TopologyRefusal::kNotInTopology, i);  // rolled back: nothing removed
      }
      out.devices.push_back(ReadSub(r[0]));
    }
    tx.commit();
    return out;
  });
}

Result<std::vector<SubDevice>> ListTopology(Db& db, std::int64_t gateway_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<SubDevice>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kList, gateway_id);
    std::vector<SubDevice> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(ReadSub(row));
    }
    return out;
  });
}

Result<void> RecordFoundDevices(Db& db, std::int64_t gateway_id, std::span<const DeviceRef> devices,
                                TimeMs now) {
  if (devices.size() > kMaxSubDevices) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    for (const auto& d : devices) {
      Exec(tx, kFoundUpsert, gateway_id, d.product_key, d.device_name, now);
    }
    Exec(tx, kFoundPrune, gateway_id);
    tx.commit();
    return {};
  });
}

Result<std::vector<FoundDevice>> ListFoundDevices(Db& db, std::int64_t gateway_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<FoundDevice>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kFoundList, gateway_id);
    std::vector<FoundDevice> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(FoundDevice{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<TimeMs>()});
    }
    return out;
  });
}

}  // namespace iot::store
