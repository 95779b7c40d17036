#include "connection.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include <openssl/rand.h>

#include "iot/common/hex.hpp"

namespace iot::store {
namespace detail {

Result<void> Connection::Ensure(bool force) {
  if (IsOpen()) {
    return {};
  }
  const auto now = std::chrono::steady_clock::now();
  if (!force && now < next_attempt_) {
    return make_error_code(Errc::kUnavailable);
  }
  try {
    conn_.reset();
    conn_ = std::make_unique<pqxx::connection>(settings_.dsn);
    Setup();
    delay_ = std::chrono::milliseconds(0);
    return {};
  } catch (...) {
    conn_.reset();
    delay_ = delay_.count() == 0 ? settings_.reconnect_min : std::min(delay_ * 2, settings_.reconnect_max);
    next_attempt_ = now + delay_;
    return make_error_code(Errc::kUnavailable);
  }
}

void Connection::Setup() {
  pqxx::nontransaction tx(*conn_);
  tx.exec("SET application_name = " + tx.quote(settings_.application_name));
  tx.exec("SET statement_timeout = " + std::to_string(settings_.statement_timeout.count()));
  tx.exec("SET TIME ZONE 'UTC'");
}

bool Connection::IsOpen() const { return conn_ != nullptr && conn_->is_open(); }

void Connection::MarkBroken() {
  try {
    conn_.reset();
  } catch (...) {
  }
  next_attempt_ = std::chrono::steady_clock::time_point{};  // first retry immediately
}

}  // namespace detail

Errc MapSqlState(const std::string& s) {
  if (s == "23505") {
    return Errc::kConflict;
  }
  if (s == "23503") {
    return Errc::kConflict;
  }
  if (s.rfind("22", 0) == 0 || s == "23502" || s == "23514" || s == "42804") {
    return Errc::kInvalid;
  }
  if (s.rfind("08", 0) == 0 || s.rfind("57P", 0) == 0 || s.rfind("53", 0) == 0 || s == "40001" ||
      s == "40P01" || s == "57014" || s == "55P03") {
    return Errc::kUnavailable;
  }
  return Errc::kInternal;
}

Errc MapCurrentException(detail::Connection* conn) {
  try {
    throw;
  } catch (const StoreError& e) {
    return e.code;
  } catch (const pqxx::broken_connection&) {
    if (conn != nullptr) {
      conn->MarkBroken();
    }
    return Errc::kUnavailable;
  } catch (const pqxx::in_doubt_error&) {
    if (conn != nullptr) {
      conn->MarkBroken();
    }
    return Errc::kUnavailable;
  } catch (const pqxx::sql_error& e) {
    if (conn != nullptr && !conn->IsOpen()) {
      conn->MarkBroken();
      return Errc::kUnavailable;
    }
    return MapSqlState(e.sqlstate());
  } catch (const pqxx::conversion_error&) {
    return Errc::kInternal;
  } catch (const std::exception&) {
    if (conn != nullptr && !conn->IsOpen()) {
      conn->MarkBroken();
      return Errc::kUnavailable;
    }
    return Errc::kInternal;
  } catch (...) {
    return Errc::kInternal;
  }
}

std::string FormatCursor(TimeMs ts, std::int64_t id) {
  // Appends instead of operator+ chains: g++ 12 emits a false -Wrestrict on those (GCC bug 105329).
  std::string out = std::to_string(ts);
  out.push_back(':');
  out.append(std::to_string(id));
  return out;
}

bool ParseCursor(std::string_view text, TimeMs& ts, std::int64_t& id) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  const char* b = text.data();
  auto r1 = std::from_chars(b, b + colon, ts);
  auto r2 = std::from_chars(b + colon + 1, b + text.size(), id);
  return r1.ec == std::errc() && r1.ptr == b + colon && r2.ec == std::errc() && r2.ptr == b + text.size();
}

bool ParseIdCursor(std::string_view text, std::int64_t& id) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), id);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

std::string RandomAlnum(std::size_t length) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  out.reserve(length);
  unsigned char buf[64];
  while (out.size() < length) {
    if (RAND_bytes(buf, sizeof buf) != 1) {
      throw std::runtime_error("RAND_bytes failed");
    }
    for (unsigned char c : buf) {
      if (c < 248 && out.size() < length) {  // 248 = 4 * 62: no modulo bias
        out.push_back(kAlphabet[c % 62]);
      }
    }
  }
  return out;
}

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return ToHex(raw);
}

std::int64_t DayOf(TimeMs ms) {
  constexpr std::int64_t kDay = 86400000;
  return ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
}

std::string FormatTimestamp(TimeMs ms) {
  std::int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int millis = static_cast<int>(ms - secs * 1000);
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

SessionLock::SessionLock(pqxx::connection& c, std::int64_t key) : c_(c), key_(key) {
  pqxx::nontransaction tx(c_);
  held_ = tx.exec_params("SELECT pg_try_advisory_lock($1)", key_)[0][0].as<bool>();
}

SessionLock::~SessionLock() {
  if (!held_) {
    return;
  }
  try {
    pqxx::nontransaction tx(c_);
    tx.exec_params("SELECT pg_advisory_unlock($1)", key_);
  } catch (...) {  // the session's end releases it
  }
}

}  // namespace iot::store
