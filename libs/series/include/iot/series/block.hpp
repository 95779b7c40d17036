#pragma once

// Compressed blocks of one device's property posts (issue 24, step 4): what the store keeps of a closed
// day once it is compacted (schemas/sql/025_property_blocks.sql). Pure: no I/O; decoding never throws
// and rejects malformed bytes with an error instead of reading outside them.
//
// A block holds rows like property_posts rows: an id, a device time, a receive time and the values of
// that post and time, each an identifier and the JSON text PostgreSQL's jsonb gave for it (kept byte for
// byte: reads answer exactly what they answered from the rows). Inside, it is column by column, so
// alike data lies together before zstd compresses it:
//   times      delta of delta (a device posting on a period costs next to nothing), ids as deltas,
//              receive times as the delta of their lag behind the device time;
//   identifiers a dictionary, and per row the indexes of the ones it holds;
//   values     per identifier: decimal numbers (what jsonb prints for a JSON number: an optional minus,
//              digits, an optional fraction, at most 18 digits) as a scale and the delta of the scaled
//              integer from the previous value; anything else as its text.
//
// Layout: byte 0 is the format version (1); the rest is one zstd frame of the columns.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iot::series {

struct Row {
  std::int64_t id = 0;
  std::int64_t ts_ms = 0;                                   // device time
  std::int64_t received_ms = 0;                             // when the platform received it
  std::vector<std::pair<std::string, std::string>> values;  // identifier, JSON text; one of each at most
};

// Encodes rows as given (callers pass them ordered by (ts_ms, id): reads rely on that order).
std::string EncodeBlock(const std::vector<Row>& rows);

// One decoded block, column by column; value texts point into `text_` (the decompressed bytes).
class Block {
 public:
  // Replaces the contents with `bytes` decoded; false and a reason in `error` when they are not a valid
  // block (nothing of it is then usable).
  bool Decode(std::string_view bytes, std::string& error);

  std::size_t size() const { return ids_.size(); }
  std::int64_t id(std::size_t row) const { return ids_[row]; }
  std::int64_t ts_ms(std::size_t row) const { return ts_[row]; }
  std::int64_t received_ms(std::size_t row) const { return received_[row]; }
  const std::vector<std::string>& identifiers() const { return keys_; }
  // Index of `identifier` in identifiers(), or -1.
  int Find(std::string_view identifier) const;
  // The rows that hold identifier `key` (ascending) and their values, in the same order.
  const std::vector<std::uint32_t>& RowsOf(int key) const { return rows_of_[static_cast<std::size_t>(key)]; }
  const std::vector<std::string_view>& ValuesOf(int key) const {
    return values_of_[static_cast<std::size_t>(key)];
  }
  // Every row back as given to EncodeBlock (identifiers of a row in dictionary order).
  std::vector<Row> Rows() const;

 private:
  std::string text_;  // decompressed columns; decimal values are printed into `printed_`
  std::string printed_;
  std::vector<std::int64_t> ids_;
  std::vector<std::int64_t> ts_;
  std::vector<std::int64_t> received_;
  std::vector<std::string> keys_;
  std::vector<std::vector<std::uint32_t>> rows_of_;
  std::vector<std::vector<std::string_view>> values_of_;
};

}  // namespace iot::series
