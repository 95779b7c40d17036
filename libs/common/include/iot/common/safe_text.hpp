#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iot {

// Length of the well-formed UTF-8 sequence starting at text[i] (1-4; Unicode 15, table 3-7: no
// overlong forms, surrogates or code points above U+10FFFF), 0 when the bytes there are not one. NUL is
// a valid one-byte sequence here. `i` < text.size().
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) noexcept;
// True when `text` is well-formed UTF-8 (NUL allowed).
bool IsValidUtf8(std::string_view text) noexcept;

// Device bytes on their way to storage. PostgreSQL's text and jsonb accept only valid UTF-8 without
// U+0000, and nlohmann::json refuses to dump invalid UTF-8; a device may send anything. These keep
// text that is already safe as it is (the common case costs one scan) and make the rest safe so that it
// can be stored and shown instead of failing the transaction that holds it.

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF)
// and holds no NUL byte.
bool IsStorableText(std::string_view text);

// `text` with every byte that is not part of a well-formed UTF-8 sequence, and every NUL, written as
// the four characters \xNN (lower-case hex). Returns `text` unchanged when IsStorableText(text).
std::string StorableText(std::string_view text);

// JSON text (as produced by nlohmann::json::dump, hence valid UTF-8) with every \u0000 escape inside its
// strings turned into the six characters \u0000 (the escape "\\u0000"): jsonb refuses U+0000.
std::string StorableJson(std::string json_text);

}  // namespace iot
