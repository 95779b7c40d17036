// The one hex codec, JSON string writer, JSON Pointer escaper and UTF-8 check of libs/common.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/common/hex.hpp"
#include "iot/common/json_text.hpp"
#include "iot/common/safe_text.hpp"

TEST_CASE("Hex: lower-case digits, a byte limit, and a strict decoder", "[common][hex]") {
  CHECK(iot::ToHex("") == "");
  CHECK(iot::ToHex(std::string("\x00\x01\x7f\x80\xff", 5)) == "00017f80ff");
  CHECK(iot::ToHex("abcdef", 2) == "6162");
  std::string out = "x=";
  iot::AppendHex(out, "\xAB");
  CHECK(out == "x=ab");
  CHECK(iot::HexValue('0') == 0);
  CHECK(iot::HexValue('9') == 9);
  CHECK(iot::HexValue('a') == 10);
  CHECK(iot::HexValue('F') == 15);
  CHECK(iot::HexValue('g') == -1);
  CHECK(iot::HexValue(' ') == -1);
  CHECK(*iot::FromHex("00017F80fF") == std::string("\x00\x01\x7f\x80\xff", 5));
  CHECK(*iot::FromHex("") == "");
  CHECK_FALSE(iot::FromHex("abc"));    // odd
  CHECK_FALSE(iot::FromHex("0x12"));   // no prefix here (script::FromHex takes one)
  CHECK_FALSE(iot::FromHex("12 34"));  // nor separators
  CHECK_FALSE(iot::FromHex("zz"));
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  CHECK(*iot::FromHex(iot::ToHex(all)) == all);
}

TEST_CASE("AppendJsonString: escapes, keeps valid UTF-8 and replaces invalid bytes", "[common][json]") {
  auto json = [](std::string_view text) {
    std::string out;
    iot::AppendJsonString(out, text);
    return out;
  };
  CHECK(json("") == R"("")");
  CHECK(json("plain") == R"("plain")");
  CHECK(json("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  CHECK(json(std::string("\x00\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\x7f\"");
  CHECK(json("h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "\"h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  CHECK(json("a\xFF"
             "b\xC3") ==
        "\"a\xEF\xBF\xBD"
        "b\xEF\xBF\xBD\"");                                                   // stray and cut sequences
  CHECK(json("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // a surrogate, byte by byte
  // Whatever the bytes, nlohmann reads back what a string of them means.
  std::string all;
  for (int i = 0; i < 128; ++i) {
    all.push_back(static_cast<char>(i));
  }
  CHECK(nlohmann::json::parse(json(all)).get<std::string>() == all);
}

TEST_CASE("JsonPointerEscape: RFC 6901 reference tokens", "[common][json]") {
  CHECK(iot::JsonPointerEscape("") == "");
  CHECK(iot::JsonPointerEscape("plain") == "plain");
  CHECK(iot::JsonPointerEscape("a/b") == "a~1b");
  CHECK(iot::JsonPointerEscape("m~n") == "m~0n");
  CHECK(iot::JsonPointerEscape("~/") == "~0~1");
  CHECK(iot::JsonPointerEscape("~1") == "~01");  // not unescaped on the way
  const nlohmann::json doc = {{"a/b", 1}, {"m~n", 2}};
  CHECK(doc.at(nlohmann::json::json_pointer("/" + iot::JsonPointerEscape("a/b"))) == 1);
  CHECK(doc.at(nlohmann::json::json_pointer("/" + iot::JsonPointerEscape("m~n"))) == 2);
}

TEST_CASE("Utf8SequenceLength: Unicode's well-formed sequences only", "[common][utf8]") {
  using iot::Utf8SequenceLength;
  CHECK(Utf8SequenceLength(std::string_view("\0", 1), 0) == 1);
  CHECK(Utf8SequenceLength("a", 0) == 1);
  CHECK(Utf8SequenceLength("\xC3\xA9", 0) == 2);
  CHECK(Utf8SequenceLength("\xE2\x82\xAC", 0) == 3);
  CHECK(Utf8SequenceLength("\xF0\x9F\x98\x80", 0) == 4);
  CHECK(Utf8SequenceLength("\xC0\x80", 0) == 0);          // overlong
  CHECK(Utf8SequenceLength("\xE0\x80\x80", 0) == 0);      // overlong
  CHECK(Utf8SequenceLength("\xED\xA0\x80", 0) == 0);      // surrogate
  CHECK(Utf8SequenceLength("\xF4\x90\x80\x80", 0) == 0);  // above U+10FFFF
  CHECK(Utf8SequenceLength("\xE2\x82", 0) == 0);          // cut short
  CHECK(Utf8SequenceLength("\x80", 0) == 0);              // continuation byte alone
  CHECK(iot::IsValidUtf8(std::string_view("a\0b", 3)));
  CHECK_FALSE(iot::IsStorableText(std::string_view("a\0b", 3)));  // NUL is valid UTF-8, not storable
  CHECK_FALSE(iot::IsValidUtf8("ok\xFF"));
}
