#include "iot/store/maintenance.hpp"

#include <cstdio>
#include <ctime>

#include "connection.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "partitions.hpp"

namespace iot::store {
namespace {

// Retention in short: daily partitions are shared by all products, so a partition is dropped only when
// its whole day is older than the LONGEST retention of any product. Products with a shorter retention
// lose their older rows through batched deletes (short transactions, kRetentionDeleteBatch rows each)
// on the partitions still kept, and the DEFAULT partition is cleaned the same way. DETACH ...
// CONCURRENTLY is not available while a DEFAULT partition exists (PostgreSQL restriction), so the drop
// runs with a short lock_timeout and is simply retried on the next run when it could not get its lock.

struct PartitionedTable {
  const char* name;    // from the schema only: never user input
  const char* column;  // partition key
  const char* expiry;  // a row is past a retention once this column is
};

constexpr PartitionedTable kTables[] = {
    {"property_posts", "ts", "ts"},
    {"property_blocks", "ts", "ts_last"},  // compacted history: a block goes once its last row is past
    {"events", "ts", "ts"},
    {"rejections", "ts", "ts"},
    {"service_calls", "requested_at", "requested_at"},
};

constexpr std::int64_t kPartitionLockKey = 0x696f745f70617274;  // "iot_part"
constexpr std::int64_t kRetentionLockKey = 0x696f745f72657465;  // "iot_rete"

std::string DayName(std::int64_t day) {  // YYYYMMDD
  std::time_t t = static_cast<std::time_t>(day * 86400);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

std::string DayLiteral(std::int64_t day) {  // 'YYYY-MM-DD 00:00:00+00'
  const std::string n = DayName(day);
  std::string out;  // appended piecewise: g++ 12 false -Wrestrict on operator+ chains
  out.append("'").append(n, 0, 4).append("-").append(n, 4, 2).append("-").append(n, 6, 2);
  out.append(" 00:00:00+00'");
  return out;
}

// Deletes in batches of at most kRetentionDeleteBatch rows (one short transaction each) from one leaf
// partition: rows older than `cutoff_ms`, of one product's devices (product_key set) or of all.
std::int64_t BatchedDelete(pqxx::connection& c, const std::string& partition, const char* column,
                           TimeMs cutoff_ms, const std::optional<std::string>& product_key) {
  const std::string sql = "DELETE FROM " + c.quote_name(partition) +
                          " WHERE ctid = ANY (ARRAY(SELECT x.ctid FROM " + c.quote_name(partition) +
                          " x WHERE x." + column +
                          " < iot_ts($1) AND ($2::text IS NULL OR x.device_id IN "
                          "(SELECT id FROM devices WHERE product_key = $2)) LIMIT $3))";
  std::int64_t total = 0;
  while (true) {
    pqxx::work tx(c);
    auto r = tx.exec_params(sql, cutoff_ms, product_key, kRetentionDeleteBatch);
    tx.commit();
    total += static_cast<std::int64_t>(r.affected_rows());
    if (r.affected_rows() < static_cast<std::size_t>(kRetentionDeleteBatch)) {
      return total;
    }
  }
}

}  // namespace

bool ParseDay(const std::string& table, const std::string& part, std::int64_t& day) {
  const std::string prefix = table + "_p";
  if (part.size() != prefix.size() + 8 || part.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  std::tm tm{};
  if (std::sscanf(part.c_str() + prefix.size(), "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  day = static_cast<std::int64_t>(timegm(&tm)) / 86400;
  return true;
}

std::vector<std::string> ListPartitions(pqxx::transaction_base& tx, const char* table) {
  std::vector<std::string> out;
  auto r = tx.exec_params(
      "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
      "WHERE i.inhparent = $1::regclass ORDER BY c.relname",
      std::string(table));
  for (const auto& row : r) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

Result<PartitionReport> EnsurePartitionsRange(Db& db, TimeMs now, int days_behind, int days_ahead) {
  return Run(db, [&](pqxx::connection& c) -> Result<PartitionReport> {
    PartitionReport report;
    const std::int64_t today = DayOf(now);
    for (const auto& t : kTables) {
      for (std::int64_t day = today - days_behind; day <= today + days_ahead; ++day) {
        const std::string part = std::string(t.name) + "_p" + DayName(day);
        pqxx::work tx(c);
        tx.exec_params("SELECT pg_advisory_xact_lock($1)", kPartitionLockKey);
        if (!tx.exec_params("SELECT to_regclass($1)", part)[0][0].is_null()) {
          continue;  // exists (the work rolls back: nothing was changed)
        }
        tx.exec("SET LOCAL lock_timeout = '5s'");
        const std::string from = DayLiteral(day);
        const std::string to = DayLiteral(day + 1);
        const std::string parent = tx.quote_name(t.name);
        const std::string def = tx.quote_name(std::string(t.name) + "_default");
        const std::string range = " FOR VALUES FROM (" + from + ") TO (" + to + ")";
        const bool stray = tx.exec("SELECT EXISTS (SELECT 1 FROM " + def + " WHERE " + t.column +
                                   " >= " + from + " AND " + t.column + " < " + to + ")")[0][0]
                               .as<bool>();
        if (!stray) {
          tx.exec("CREATE TABLE " + tx.quote_name(part) + " PARTITION OF " + parent + range);
        } else {
          // Creating the partition would fail while the default holds rows of its range: detach the
          // default, create, move the rows through the parent, re-attach (one transaction).
          tx.exec("ALTER TABLE " + parent + " DETACH PARTITION " + def);
          tx.exec("CREATE TABLE " + tx.quote_name(part) + " PARTITION OF " + parent + range);
          auto moved =
              tx.exec("WITH m AS (DELETE FROM " + def + " WHERE " + t.column + " >= " + from + " AND " +
                      t.column + " < " + to + " RETURNING *) INSERT INTO " + parent + " SELECT * FROM m");
          report.moved_from_default += static_cast<std::int64_t>(moved.affected_rows());
          tx.exec("ALTER TABLE " + parent + " ATTACH PARTITION " + def + " DEFAULT");
        }
        tx.commit();
        report.created.push_back(part);
      }
    }
    return report;
  });
}

Result<PartitionReport> EnsurePartitions(Db& db, TimeMs now) {
  return EnsurePartitionsRange(db, now, kPartitionDaysBehind, kPartitionDaysAhead);
}

Result<RetentionReport> ApplyRetention(Db& db, TimeMs now) {
  return Run(db, [&](pqxx::connection& c) -> Result<RetentionReport> {
    RetentionReport report;
    const SessionLock lock(c, kRetentionLockKey);
    if (!lock.held()) {
      report.busy = true;
      return report;
    }

    std::vector<std::pair<std::string, int>> products;
    int max_days = 30;  // no products: the default retention
    {
      pqxx::read_transaction tx(c);
      for (const auto& row : tx.exec("SELECT product_key, retention_days FROM products")) {
        products.emplace_back(row[0].as<std::string>(), row[1].as<int>());
      }
      if (!products.empty()) {
        max_days = 0;
        for (const auto& p : products) {
          max_days = std::max(max_days, p.second);
        }
      }
    }
    const TimeMs max_cutoff = now - static_cast<TimeMs>(max_days) * kDayMs;
    for (const auto& t : kTables) {
      std::vector<std::string> parts;
      {
        pqxx::read_transaction tx(c);
        parts = ListPartitions(tx, t.name);
      }
      for (const auto& part : parts) {
        std::int64_t day = 0;
        const bool daily = ParseDay(t.name, part, day);
        if (daily && (day + 1) * kDayMs <= max_cutoff) {
          try {
            pqxx::work tx(c);
            tx.exec("SET LOCAL lock_timeout = '2s'");
            tx.exec("DROP TABLE " + tx.quote_name(part));
            tx.commit();
            report.dropped.push_back(part);
          } catch (const pqxx::sql_error& e) {
            if (e.sqlstate() != "55P03") {
              throw;
            }
            report.busy = true;  // lock not granted quickly: retry on the next run
          }
          continue;
        }
        // Kept partition (or default): per-product batched deletes of rows past their retention.
        for (const auto& [pk, days] : products) {
          const TimeMs cutoff = now - static_cast<TimeMs>(days) * kDayMs;
          if (daily && day * kDayMs >= cutoff) {
            continue;  // the whole partition is inside this product's retention
          }
          report.deleted_rows += BatchedDelete(c, part, t.expiry, cutoff, pk);
        }
        if (!daily) {
          // Default partition: rows of deleted devices / unknown products past the longest retention.
          report.deleted_rows += BatchedDelete(c, part, t.expiry, max_cutoff, std::nullopt);
        }
      }
    }
    return report;
  });
}

Result<std::int64_t> CleanDedupe(Db& db, TimeMs now) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    std::int64_t total = 0;
    while (true) {
      pqxx::work tx(c);
      auto r = tx.exec_params(
          "DELETE FROM message_dedupe WHERE ctid = ANY (ARRAY(SELECT ctid FROM message_dedupe "
          "WHERE received_at < iot_ts($1) LIMIT 10000))",
          now - kDedupeWindowMs);
      tx.commit();
      total += static_cast<std::int64_t>(r.affected_rows());
      if (r.affected_rows() < 10000) {
        return total;
      }
    }
  });
}

}  // namespace iot::store
