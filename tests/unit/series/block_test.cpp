#include "iot/series/block.hpp"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using iot::series::Block;
using iot::series::EncodeBlock;
using iot::series::Row;

namespace {

// Rows back from a block, each row's values sorted by identifier (a block returns them in its
// dictionary's order).
std::vector<Row> Sorted(std::vector<Row> rows) {
  for (auto& row : rows) {
    std::sort(row.values.begin(), row.values.end());
  }
  return rows;
}

bool Same(const std::vector<Row>& a, const std::vector<Row>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].ts_ms != b[i].ts_ms || a[i].received_ms != b[i].received_ms ||
        a[i].values != b[i].values) {
      return false;
    }
  }
  return true;
}

std::vector<Row> RoundTrip(const std::vector<Row>& rows) {
  Block block;
  std::string error;
  REQUIRE(block.Decode(EncodeBlock(rows), error));
  return Sorted(block.Rows());
}

}  // namespace

TEST_CASE("block: rows come back exactly, values byte for byte", "[series]") {
  const std::vector<Row> rows = {
      {1001, 1700000000000, 1700000000012, {{"temp", "23.45"}, {"mode", "\"auto\""}}},
      {1007, 1700000030000, 1700000030003, {{"temp", "23.5"}, {"on", "true"}}},
      {1003, 1700000030000, 1700000031000, {{"temp", "-0.05"}, {"big", "123456789012345678901234567890"}}},
      {1500,
       1700000060001,
       1700000060001,
       {{"pos", "{\"lat\": 30.1, \"lng\": 120.25}"}, {"list", "[1, 2, 3]"}, {"n", "null"}}},
      {900, 1600000000000, 1800000000000, {{"temp", "0"}, {"zero", "-0"}, {"x", "-0.0"}, {"e", "1.50"}}},
      {901, 1600000000001, 1600000000000, {}},  // received before the device time: clocks differ
  };
  CHECK(Same(RoundTrip(rows), Sorted(rows)));
}

TEST_CASE("block: decimal columns keep scale, sign and digits at the limits", "[series]") {
  const std::vector<std::string> texts = {"0",
                                          "10",
                                          "-3.0",
                                          "0.5",
                                          "0.50",
                                          "0.05",
                                          "-0.001",
                                          "7.25",
                                          "100.10",
                                          "999999999999999999",
                                          "-999999999999999999",
                                          "0.00000000000000001",
                                          "12345678.9"};
  std::vector<Row> rows;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    rows.push_back(
        Row{static_cast<std::int64_t>(i), static_cast<std::int64_t>(i * 1000), 0, {{"v", texts[i]}}});
  }
  const auto back = RoundTrip(rows);
  REQUIRE(back.size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    CHECK(back[i].values.at(0).second == texts[i]);
  }
  // One value that is not a plain decimal makes the column text; still exact.
  rows.push_back(Row{99, 99000, 0, {{"v", "1e400"}}});
  CHECK(Same(RoundTrip(rows), Sorted(rows)));
}

TEST_CASE("block: extreme times and ids survive the delta coding", "[series]") {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<Row> rows = {{kMax, kMin, kMax, {{"a", "1"}}},
                                 {kMin, kMax, kMin, {{"a", "2"}}},
                                 {0, 0, 0, {{"a", "3"}}},
                                 {-5, -62135596800000, 253402300799999, {{"a", "4"}}}};
  CHECK(Same(RoundTrip(rows), Sorted(rows)));
}

TEST_CASE("block: per identifier reads give its rows in order and skip rows without it", "[series]") {
  std::vector<Row> rows;
  for (int i = 0; i < 10; ++i) {
    Row row{100 + i, 1000L * i, 1000L * i + 5, {{"a", std::to_string(i)}}};
    if (i % 3 == 0) {
      row.values.emplace_back("b", "\"x" + std::to_string(i) + "\"");
    }
    rows.push_back(row);
  }
  Block block;
  std::string error;
  REQUIRE(block.Decode(EncodeBlock(rows), error));
  REQUIRE(block.size() == 10);
  CHECK(block.Find("c") == -1);
  const int b = block.Find("b");
  REQUIRE(b >= 0);
  CHECK(block.RowsOf(b) == std::vector<std::uint32_t>{0, 3, 6, 9});
  REQUIRE(block.ValuesOf(b).size() == 4);
  CHECK(block.ValuesOf(b)[2] == "\"x6\"");
  CHECK(block.ts_ms(9) == 9000);
  CHECK(block.id(9) == 109);
  CHECK(block.received_ms(9) == 9005);
  CHECK(RoundTrip({}).empty());
}

TEST_CASE("block: a sensor-like day compresses to a few bytes a value", "[series]") {
  // One device, 5 properties every 30 s (with a little jitter) for a day, floats walking by hundredths.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> step(-30, 30);
  std::uniform_int_distribution<int> jitter(0, 20);
  std::vector<Row> rows;
  int t = 2000;
  int h = 5000;
  std::int64_t id = 1;
  for (int i = 0; i < 2880; ++i) {
    t += step(rng);
    h += step(rng) / 10;
    const std::int64_t ts = 1700000000000 + 30000L * i + jitter(rng);
    id += 1000 + jitter(rng);
    rows.push_back(
        Row{id,
            ts,
            ts + 3 + jitter(rng),
            {{"temperature", std::to_string(t / 100) + "." + std::to_string(100 + t % 100).substr(1)},
             {"humidity", std::to_string(h / 10) + "." + std::to_string(h % 10)},
             {"battery", std::to_string(90 - i / 500)},
             {"mode", i % 700 < 350 ? "2" : "1"},
             {"alarm", "false"}}});
  }
  const std::string bytes = EncodeBlock(rows);
  const double per_value = static_cast<double>(bytes.size()) / (rows.size() * 5.0);
  INFO("bytes per value: " << per_value);
  CHECK(per_value < 2.0);
  CHECK(Same(RoundTrip(rows), Sorted(rows)));
}

TEST_CASE("block: malformed bytes are refused, never read past", "[series]") {
  std::vector<Row> rows;
  for (int i = 0; i < 50; ++i) {
    rows.push_back(Row{i, 1000L * i, 1000L * i, {{"a", std::to_string(i * 7)}, {"s", "\"t\""}}});
  }
  const std::string good = EncodeBlock(rows);
  Block block;
  std::string error;
  CHECK_FALSE(block.Decode("", error));
  CHECK_FALSE(block.Decode(std::string(1, '\2') + good.substr(1), error));
  CHECK(error == "not a version 1 block");
  CHECK_FALSE(block.Decode(good.substr(0, good.size() - 3), error));
  CHECK(block.size() == 0);
  // Every truncation and every single flipped byte: refused or decoded, never a crash (ASan in fuzzing).
  for (std::size_t n = 0; n < good.size(); ++n) {
    block.Decode(good.substr(0, n), error);
    std::string flipped = good;
    flipped[n] = static_cast<char>(flipped[n] ^ 0x5a);
    block.Decode(flipped, error);
  }
  REQUIRE(block.Decode(good, error));
  CHECK(block.size() == 50);
  // Found by fuzzing: a dictionary naming one identifier twice (its rows would not encode again).
  const unsigned char repeated[] = {
      0x01, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x72, 0xb5, 0x02, 0x00, 0x34, 0x04, 0x06, 0x03, 0x04, 0x6d,
      0x6f, 0x64, 0x65, 0x04, 0x6d, 0x6f, 0x64, 0x65, 0x03, 0x05, 0x6f, 0x73, 0xfe, 0x1f, 0xa0, 0x80,
      0xab, 0xf9, 0x00, 0x2b, 0xfc, 0x04, 0x96, 0x00, 0x00, 0xd0, 0x0f, 0x0e, 0x0a, 0x02, 0x02, 0x00,
      0x01, 0x03, 0x00, 0x01, 0x02, 0x9a, 0x03, 0x14, 0x00, 0x03, 0x22, 0x62, 0x22, 0x03, 0x22, 0x61,
      0x22, 0x00, 0x0c, 0x7b, 0x22, 0x6c, 0x61, 0x74, 0x22, 0x3a, 0x20, 0x31, 0x2e, 0x35, 0x7d, 0x07,
      0x20, 0x20, 0x83, 0x3d, 0x83, 0x67, 0x18, 0x9c, 0x41, 0x1b, 0xc4, 0x33, 0x02, 0x23, 0xe0, 0x4f};
  CHECK_FALSE(block.Decode(std::string(reinterpret_cast<const char*>(repeated), sizeof repeated), error));
  CHECK(error == "bad or repeated identifier");
}
