#pragma once

#include <string>
#include <string_view>

#include "iot/common/log.hpp"

// The line format of iot::log::Write (log.hpp), set once in main() from IOT_LOG_FORMAT.
namespace iot::log {

// logfmt (default): `ts=... level=... component=... <message>`. json: one object per line for log shippers,
// {"ts":"...","level":"...","component":"...","msg":"<message's free text>","<key>":<value>,...}.
enum class Format { kLogfmt = 0, kJson = 1 };
void SetFormat(Format format);
bool ParseFormat(std::string_view text, Format& out);

// One line as Write makes it (without the newline); pure, for tests. Messages are free text followed by
// key=value fields (values bare or as Quote makes them); in JSON the free text becomes "msg" (or a leading
// msg="..." field does), each field a member: bare integers and decimals as numbers, the rest as strings, a
// byte that is not valid UTF-8 as the text \xNN, a field named like a fixed member with a trailing "_".
std::string FormatLine(Format format, std::string_view ts, Level level, std::string_view component,
                       std::string_view message);

}  // namespace iot::log
