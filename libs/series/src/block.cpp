#include "iot/series/block.hpp"

#include <zstd.h>

#include <algorithm>
#include <limits>

namespace iot::series {
namespace {

constexpr char kVersion = 1;
constexpr int kZstdLevel = 9;                      // compaction runs in the background: ratio over speed
constexpr std::uint64_t kMaxDecoded = 256u << 20;  // no block we write comes near (a day of one device)
constexpr int kMaxDecimalDigits = 18;              // the scaled integer fits an int64
enum Encoding : std::uint64_t { kText = 0, kDecimal = 1 };

// Times and ids are arithmetic modulo 2^64 (well defined for any input, exact for every real value).
std::uint64_t U(std::int64_t v) { return static_cast<std::uint64_t>(v); }
std::int64_t S(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t ZigZag(std::uint64_t v) { return (v << 1) ^ (0 - (v >> 63)); }
std::uint64_t UnZigZag(std::uint64_t v) { return (v >> 1) ^ (0 - (v & 1)); }

void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void PutText(std::string& out, std::string_view text) {
  PutVarint(out, text.size());
  out.append(text);
}

// A JSON number as jsonb prints it: -?(0|[1-9][0-9]*)(.[0-9]+)?, at most 18 digits, not a negative zero.
bool ParseDecimal(std::string_view text, std::int64_t& mantissa, std::uint64_t& scale) {
  std::size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  i += negative ? 1 : 0;
  const std::size_t int_start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    ++i;
  }
  const std::size_t int_digits = i - int_start;
  if (int_digits == 0 || (int_digits > 1 && text[int_start] == '0')) {
    return false;
  }
  std::size_t frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    const std::size_t frac_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    frac_digits = i - frac_start;
    if (frac_digits == 0) {
      return false;
    }
  }
  if (i != text.size() || int_digits + frac_digits > kMaxDecimalDigits) {
    return false;
  }
  std::int64_t m = 0;
  for (const char c : text.substr(int_start)) {
    if (c != '.') {
      m = m * 10 + (c - '0');
    }
  }
  if (negative && m == 0) {
    return false;  // "-0" / "-0.0": the sign would be lost
  }
  mantissa = negative ? -m : m;
  scale = frac_digits;
  return true;
}

void PrintDecimal(std::string& out, std::int64_t mantissa, std::uint64_t scale) {
  std::string digits = std::to_string(mantissa < 0 ? -static_cast<std::uint64_t>(mantissa)
                                                   : static_cast<std::uint64_t>(mantissa));
  if (digits.size() <= scale) {
    digits.insert(0, scale + 1 - digits.size(), '0');
  }
  if (mantissa < 0) {
    out.push_back('-');
  }
  out.append(digits, 0, digits.size() - scale);
  if (scale > 0) {
    out.push_back('.');
    out.append(digits, digits.size() - scale, scale);
  }
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) {
        return false;
      }
      const auto byte = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return true;
      }
    }
    return false;  // longer than 10 bytes
  }
  bool Text(std::string_view& text) {
    std::uint64_t n = 0;
    if (!Varint(n) || n > in_.size() - pos_) {
      return false;
    }
    text = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  std::size_t left() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string EncodeBlock(const std::vector<Row>& rows) {
  std::vector<std::string_view> keys;  // dictionary, in order of first use
  std::vector<std::vector<std::uint32_t>> key_of_row(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (const auto& [key, value] : rows[r].values) {
      const auto it = std::find(keys.begin(), keys.end(), key);
      key_of_row[r].push_back(static_cast<std::uint32_t>(it - keys.begin()));
      if (it == keys.end()) {
        keys.push_back(key);
      }
    }
  }
  std::string raw;
  PutVarint(raw, rows.size());
  PutVarint(raw, keys.size());
  for (const auto key : keys) {
    PutText(raw, key);
  }
  std::uint64_t prev_ts = 0;
  std::uint64_t prev_delta = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::uint64_t delta = U(rows[r].ts_ms) - prev_ts;
    PutVarint(raw, ZigZag(r == 0 ? U(rows[r].ts_ms) : delta - prev_delta));
    prev_delta = r == 0 ? 0 : delta;
    prev_ts = U(rows[r].ts_ms);
  }
  std::uint64_t prev = 0;
  for (const auto& row : rows) {
    PutVarint(raw, ZigZag(U(row.id) - prev));
    prev = U(row.id);
  }
  prev = 0;
  for (const auto& row : rows) {
    const std::uint64_t lag = U(row.received_ms) - U(row.ts_ms);
    PutVarint(raw, ZigZag(lag - prev));
    prev = lag;
  }
  for (const auto& indexes : key_of_row) {
    PutVarint(raw, indexes.size());
    for (const auto k : indexes) {
      PutVarint(raw, k);
    }
  }
  for (std::uint32_t k = 0; k < keys.size(); ++k) {
    std::vector<std::string_view> values;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t i = 0; i < key_of_row[r].size(); ++i) {
        if (key_of_row[r][i] == k) {
          values.emplace_back(rows[r].values[i].second);
        }
      }
    }
    std::vector<std::int64_t> mantissas(values.size());
    std::vector<std::uint64_t> scales(values.size());
    bool decimal = true;
    for (std::size_t i = 0; i < values.size() && decimal; ++i) {
      decimal = ParseDecimal(values[i], mantissas[i], scales[i]);
    }
    PutVarint(raw, decimal ? kDecimal : kText);
    if (decimal) {
      for (const auto scale : scales) {
        PutVarint(raw, scale);
      }
      prev = 0;
      for (const auto m : mantissas) {
        PutVarint(raw, ZigZag(U(m) - prev));
        prev = U(m);
      }
    } else {
      for (const auto value : values) {
        PutText(raw, value);
      }
    }
  }
  std::string out(1 + ZSTD_compressBound(raw.size()), '\0');
  out[0] = kVersion;
  const std::size_t n = ZSTD_compress(out.data() + 1, out.size() - 1, raw.data(), raw.size(), kZstdLevel);
  out.resize(1 + n);  // cannot fail: the bound is zstd's own, the level a valid one
  return out;
}

bool Block::Decode(std::string_view bytes, std::string& error) {
  *this = Block{};
  if (bytes.empty() || bytes[0] != kVersion) {
    error = "not a version 1 block";
    return false;
  }
  bytes.remove_prefix(1);
  const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxDecoded) {
    error = "not a zstd frame of a known size up to 256 MB";
    return false;
  }
  text_.resize(size);
  const std::size_t n = ZSTD_decompress(text_.data(), text_.size(), bytes.data(), bytes.size());
  if (ZSTD_isError(n) || n != size) {
    error = "corrupt zstd frame";
    *this = Block{};
    return false;
  }
  const auto fail = [&](const char* why) {
    *this = Block{};
    error = why;
    return false;
  };
  Reader in(text_);
  std::uint64_t rows = 0;
  std::uint64_t nkeys = 0;
  // Every row takes at least 4 bytes and every identifier 1: counts beyond that are lies.
  if (!in.Varint(rows) || rows > in.left() / 4 || !in.Varint(nkeys) || nkeys > in.left()) {
    return fail("bad row or identifier count");
  }
  for (std::uint64_t k = 0; k < nkeys; ++k) {
    std::string_view key;
    if (!in.Text(key) || std::find(keys_.begin(), keys_.end(), key) != keys_.end()) {
      return fail("bad or repeated identifier");
    }
    keys_.emplace_back(key);
  }
  ids_.resize(rows);
  ts_.resize(rows);
  received_.resize(rows);
  std::uint64_t v = 0;
  std::uint64_t prev_ts = 0;
  std::uint64_t prev_delta = 0;
  for (std::uint64_t r = 0; r < rows; ++r) {
    if (!in.Varint(v)) {
      return fail("truncated times");
    }
    const std::uint64_t delta = r == 0 ? 0 : prev_delta + UnZigZag(v);
    ts_[r] = S(r == 0 ? UnZigZag(v) : prev_ts + delta);
    prev_delta = delta;
    prev_ts = U(ts_[r]);
  }
  std::uint64_t prev = 0;
  for (std::uint64_t r = 0; r < rows; ++r) {
    if (!in.Varint(v)) {
      return fail("truncated ids");
    }
    prev += UnZigZag(v);
    ids_[r] = S(prev);
  }
  prev = 0;
  for (std::uint64_t r = 0; r < rows; ++r) {
    if (!in.Varint(v)) {
      return fail("truncated receive times");
    }
    prev += UnZigZag(v);
    received_[r] = S(U(ts_[r]) + prev);
  }
  rows_of_.resize(nkeys);
  for (std::uint64_t r = 0; r < rows; ++r) {
    std::uint64_t count = 0;
    if (!in.Varint(count) || count > nkeys) {
      return fail("bad identifier set");
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      if (!in.Varint(v) || v >= nkeys || (!rows_of_[v].empty() && rows_of_[v].back() == r)) {
        return fail("bad identifier index");
      }
      rows_of_[v].push_back(static_cast<std::uint32_t>(r));
    }
  }
  // Decimal values are printed into printed_ first and viewed once it no longer grows.
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> printed(nkeys);
  values_of_.resize(nkeys);
  for (std::uint64_t k = 0; k < nkeys; ++k) {
    const std::size_t count = rows_of_[k].size();
    std::uint64_t encoding = 0;
    if (!in.Varint(encoding) || (encoding != kText && encoding != kDecimal)) {
      return fail("bad value encoding");
    }
    if (encoding == kText) {
      for (std::size_t i = 0; i < count; ++i) {
        std::string_view value;
        if (!in.Text(value)) {
          return fail("truncated values");
        }
        values_of_[k].push_back(value);
      }
      continue;
    }
    std::vector<std::uint64_t> scales(count);
    for (auto& scale : scales) {
      if (!in.Varint(scale) || scale >= kMaxDecimalDigits) {
        return fail("bad decimal scale");
      }
    }
    prev = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (!in.Varint(v)) {
        return fail("truncated decimal values");
      }
      prev += UnZigZag(v);
      const std::size_t at = printed_.size();
      PrintDecimal(printed_, S(prev), scales[i]);
      printed[k].emplace_back(at, printed_.size() - at);
    }
  }
  if (in.left() != 0) {
    return fail("trailing bytes");
  }
  for (std::uint64_t k = 0; k < nkeys; ++k) {
    for (const auto& [at, n] : printed[k]) {
      values_of_[k].push_back(std::string_view(printed_).substr(at, n));
    }
  }
  return true;
}

int Block::Find(std::string_view identifier) const {
  const auto it = std::find(keys_.begin(), keys_.end(), identifier);
  return it == keys_.end() ? -1 : static_cast<int>(it - keys_.begin());
}

std::vector<Row> Block::Rows() const {
  std::vector<Row> out(size());
  for (std::size_t r = 0; r < size(); ++r) {
    out[r].id = ids_[r];
    out[r].ts_ms = ts_[r];
    out[r].received_ms = received_[r];
  }
  for (std::size_t k = 0; k < keys_.size(); ++k) {
    for (std::size_t i = 0; i < rows_of_[k].size(); ++i) {
      out[rows_of_[k][i]].values.emplace_back(keys_[k], values_of_[k][i]);
    }
  }
  return out;
}

}  // namespace iot::series
