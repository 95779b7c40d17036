#pragma once

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

namespace iot::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Process-wide threshold; set once in main() from configuration.
void SetLevel(Level level);
Level GetLevel();
bool ParseLevel(std::string_view text, Level& out);

// Writes one line to stderr: `ts=... level=... component=... msg="..." key=value ...`.
void Write(Level level, std::string_view component, std::string_view message);

// Allows one event per `interval` per limiter; counts what it suppresses so the next line can report it.
class RateLimiter final {
 public:
  explicit RateLimiter(std::chrono::milliseconds interval) : interval_ms_(interval.count()) {}
  // True when a line may be written now; `suppressed` receives how many were dropped since the last one.
  bool Allow(long long& suppressed);

 private:
  long long interval_ms_;
  std::atomic<long long> next_ms_{0};
  std::atomic<long long> suppressed_{0};
};

// Quotes a value for a key=value log field (escapes quotes, backslashes and control bytes).
std::string Quote(std::string_view value);

}  // namespace iot::log

// The macros evaluate their stream expression only when the level is enabled.
#define IOT_LOG(level, component, expr)                                        \
  do {                                                                         \
    if (static_cast<int>(level) >= static_cast<int>(::iot::log::GetLevel())) { \
      std::ostringstream iot_log_os_;                                          \
      iot_log_os_ << expr;                                                     \
      ::iot::log::Write(level, component, iot_log_os_.str());                  \
    }                                                                          \
  } while (false)
#define IOT_LOG_DEBUG(component, expr) IOT_LOG(::iot::log::Level::kDebug, component, expr)
#define IOT_LOG_INFO(component, expr) IOT_LOG(::iot::log::Level::kInfo, component, expr)
#define IOT_LOG_WARN(component, expr) IOT_LOG(::iot::log::Level::kWarn, component, expr)
#define IOT_LOG_ERROR(component, expr) IOT_LOG(::iot::log::Level::kError, component, expr)
// For per-device noise: at most one line per limiter interval, with a count of what was suppressed.
#define IOT_LOG_LIMITED(limiter, level, component, expr)                         \
  do {                                                                           \
    long long iot_suppressed_ = 0;                                               \
    if (static_cast<int>(level) >= static_cast<int>(::iot::log::GetLevel()) &&   \
        (limiter).Allow(iot_suppressed_)) {                                      \
      std::ostringstream iot_log_os_;                                            \
      iot_log_os_ << expr;                                                       \
      if (iot_suppressed_ > 0) iot_log_os_ << " suppressed=" << iot_suppressed_; \
      ::iot::log::Write(level, component, iot_log_os_.str());                    \
    }                                                                            \
  } while (false)
