#include "iot/common/safe_text.hpp"

#include <string>

#include <catch2/catch.hpp>

using iot::IsStorableText;
using iot::StorableJson;
using iot::StorableText;
using namespace std::string_literals;

TEST_CASE("StorableText: valid UTF-8 is kept byte for byte", "[common][text]") {
  for (const std::string& s : {""s, "plain ascii"s, "café"s, "温度"s, "emoji \xF0\x9F\x98\x80"s,
                               "\xEF\xBF\xBF"s, "\xF4\x8F\xBF\xBF"s, "tab\tnewline\n"s}) {
    CAPTURE(s);
    CHECK(IsStorableText(s));
    CHECK(StorableText(s) == s);
  }
}

TEST_CASE("StorableText: every byte PostgreSQL refuses is written as hex, the rest is kept",
          "[common][text]") {
  const struct {
    std::string in, out;
  } cases[] = {
      {"caf\xE9", "caf\\xe9"},                       // Latin-1
      {"\x80x", "\\x80x"},                           // lone continuation byte
      {"a\xE2\x82", "a\\xe2\\x82"},                  // truncated sequence at the end
      {"\xE2\x82z", "\\xe2\\x82z"},                  // truncated sequence in the middle
      {"\xC0\xAF", "\\xc0\\xaf"},                    // overlong '/'
      {"\xED\xA0\x80", "\\xed\\xa0\\x80"},           // surrogate U+D800
      {"\xF4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},  // above U+10FFFF
      {"\xFF\xFE", "\\xff\\xfe"},
      {"a\0b"s, "a\\x00b"},                             // NUL
      {"ok \xC3\xA9 \xFF ok", "ok \xC3\xA9 \\xff ok"},  // valid sequences around a bad byte stay
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK_FALSE(IsStorableText(c.in));
    CHECK(StorableText(c.in) == c.out);
    CHECK(IsStorableText(StorableText(c.in)));
  }
}

TEST_CASE(
    "StorableJson: U+0000 escapes inside strings become text - escaped backslashes are not mistaken for them",
    "[common][text]") {
  CHECK(StorableJson(R"({"a":"x"})") == R"({"a":"x"})");
  CHECK(StorableJson(R"({"a":"x\u0000y"})") == R"({"a":"x\\u0000y"})");
  CHECK(StorableJson(R"({"k\u0000":1})") == R"({"k\\u0000":1})");
  // "\\u0000" is a backslash then the letters u0000: no NUL, kept.
  CHECK(StorableJson(R"(["\\u0000"])") == R"(["\\u0000"])");
  // A backslash, then a real NUL.
  CHECK(StorableJson(R"(["\\\u0000"])") == R"(["\\\\u0000"])");
  CHECK(StorableJson(R"(["\u00001"])") == R"(["\\u00001"])");
}
