#pragma once

// Private to libs/store: the pqxx connection behind a Db, error mapping and small helpers used by every
// repository file.

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <pqxx/pqxx>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/types.hpp"

// libpqxx 6.4 passes std::optional parameters as NULL when empty.

namespace iot::store {

// Thrown inside repository lambdas to leave with a specific code; caught by Run().
struct StoreError {
  Errc code;
};

namespace detail {

class Connection final {
 public:
  explicit Connection(const DbSettings& settings) : settings_(settings) {}

  // Connects (and prepares statements) when not connected and the backoff allows it.
  Result<void> Ensure(bool force);
  bool IsOpen() const;
  void MarkBroken();
  pqxx::connection& Pq() { return *conn_; }

 private:
  void Setup();

  const DbSettings& settings_;
  std::unique_ptr<pqxx::connection> conn_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds delay_{0};
};

}  // namespace detail

// Maps a SQLSTATE to our codes (23505 unique -> kConflict, 08xxx -> kUnavailable, ...).
Errc MapSqlState(const std::string& sqlstate);
// Maps the exception in flight (call inside a catch block only).
Errc MapCurrentException(detail::Connection* conn);

// Runs `fn(pqxx::connection&)` returning Result<T>; connects lazily and turns exceptions into Errc.
template <class F>
auto Run(Db& db, F&& fn) -> decltype(fn(std::declval<pqxx::connection&>())) {
  auto& conn = db.ConnectionForStore();
  if (auto r = conn.Ensure(false); !r) {
    return r.error();
  }
  try {
    return fn(conn.Pq());
  } catch (...) {
    return make_error_code(MapCurrentException(&conn));
  }
}

// A session-level advisory lock for work spanning several transactions on `c` (one process at a time
// across the platform): taken if free when constructed, released when destroyed (a failure to release
// is ignored: the session's end releases it too).
class SessionLock {
 public:
  SessionLock(pqxx::connection& c, std::int64_t key);
  ~SessionLock();
  SessionLock(const SessionLock&) = delete;
  SessionLock& operator=(const SessionLock&) = delete;
  bool held() const { return held_; }

 private:
  pqxx::connection& c_;
  std::int64_t key_;
  bool held_ = false;
};

// Converts for prepared statements: store string_views as std::string.
inline std::string S(std::string_view v) { return std::string(v); }

// Reads an optional bigint/int/text column.
template <class T>
std::optional<T> Opt(const pqxx::field& f) {
  if (f.is_null()) {
    return std::nullopt;
  }
  return f.as<T>();
}

// Page limit check (1..1000).
inline bool ValidLimit(int limit) { return limit >= 1 && limit <= kMaxPageLimit; }

// Time bounds when from/to are absent (year 1 .. year 9999).
inline constexpr TimeMs kMinTimeMs = -62135596800000LL;
inline constexpr TimeMs kMaxTimeMs = 253402300800000LL;

// Keyset cursor "<ts_ms>:<id>" / "<id>".
std::string FormatCursor(TimeMs ts, std::int64_t id);
bool ParseCursor(std::string_view text, TimeMs& ts, std::int64_t& id);
bool ParseIdCursor(std::string_view text, std::int64_t& id);

// Random [A-Za-z0-9] string / hex string from the OpenSSL CSPRNG.
std::string RandomAlnum(std::size_t length);
std::string RandomHex(std::size_t bytes);

// "YYYY-MM-DD HH:MM:SS.mmm+00" for COPY text.
std::string FormatTimestamp(TimeMs ms);
// "YYYYMMDD" of a UTC day index (days since epoch) and the day index of a time.
std::int64_t DayOf(TimeMs ms);

inline constexpr TimeMs kHourMs = 3600000;
inline constexpr TimeMs kUtcDayMs = 24 * kHourMs;
// The start of the UTC hour (day, ...: `unit` divides a day) holding `ms`, also before 1970.
inline TimeMs FloorTo(TimeMs ms, TimeMs unit) { return ms - (((ms % unit) + unit) % unit); }
inline TimeMs FloorHour(TimeMs ms) { return FloorTo(ms, kHourMs); }
// The first whole unit at or after `ms`.
inline TimeMs CeilTo(TimeMs ms, TimeMs unit) {
  return FloorTo(ms, unit) == ms ? ms : FloorTo(ms, unit) + unit;
}

}  // namespace iot::store

namespace iot::store {

// A named SQL statement. Prepared on a connection at first use (libpqxx keeps the definition and
// re-registering the same text is a no-op), then executed by name with parameters only.
struct Statement {
  const char* name;
  const char* sql;
};

namespace detail {
void CountStatement();  // StatementsOnThisThread()
}  // namespace detail

template <class... Args>
pqxx::result Exec(pqxx::transaction_base& tx, const Statement& st, Args&&... args) {
  detail::CountStatement();
  tx.conn().prepare(st.name, st.sql);
  return tx.exec_prepared(st.name, std::forward<Args>(args)...);
}
// Runs `sql` planned for these very parameters (an unnamed statement, never a cached generic plan): for
// statements whose generic plan can be wrong by orders of magnitude (the selectivity of `jsonb ? $n`, or
// partitions that only plan-time pruning leaves out).
template <class... Args>
pqxx::result ExecPlanned(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  detail::CountStatement();
  return tx.exec_params(sql, std::forward<Args>(args)...);
}

}  // namespace iot::store

namespace iot::store {

// Parameters of a keyset page over (ts, id): statements filter ts >= from AND ts < to AND
// (ts, id) > cursor (asc) or < cursor (desc). Without a cursor, the cursor is set to (from, INT64_MIN)
// (asc) or (to, INT64_MIN) (desc), which excludes nothing, so one statement serves both cases.
struct KeysetBounds {
  TimeMs from = kMinTimeMs;
  TimeMs to = kMaxTimeMs;
  TimeMs cursor_ts = 0;
  std::int64_t cursor_id = 0;
};

inline bool MakeBounds(const TimeQuery& q, KeysetBounds& b) {
  if (!ValidLimit(q.limit)) {
    return false;
  }
  b.from = q.from.value_or(kMinTimeMs);
  b.to = q.to.value_or(kMaxTimeMs);
  if (!q.cursor.empty()) {
    return ParseCursor(q.cursor, b.cursor_ts, b.cursor_id);
  }
  if (q.order == Order::kAsc) {
    b.cursor_ts = b.from;
    b.cursor_id = INT64_MIN;
  } else {
    b.cursor_ts = b.to;
    b.cursor_id = INT64_MIN;
  }
  return true;
}

}  // namespace iot::store
