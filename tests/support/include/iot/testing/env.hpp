#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace iot::testing {

// Value of an environment variable that tests/run.sh exports. Integration tests must fail loudly, never
// pass silently, when run outside the harness: this throws with a message naming the variable.
std::string RequireEnv(const char* name);

// Polls `condition` every few milliseconds until it is true or `timeout` passes; returns its last value.
// Use instead of sleeping a fixed time.
bool PollUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(5),
               std::chrono::milliseconds interval = std::chrono::milliseconds(10));

}  // namespace iot::testing
