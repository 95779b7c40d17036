// libFuzzer target: compacted history blocks (libs/series). Whatever the bytes, Decode must not crash,
// read outside them or allocate without bound; a block it accepts encodes again to a block that decodes
// to the same rows.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "iot/series/block.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  iot::series::Block block;
  std::string error;
  if (!block.Decode(bytes, error)) {
    if (error.empty() || block.size() != 0) {
      std::abort();
    }
    return 0;
  }
  const auto rows = block.Rows();
  iot::series::Block again;
  if (!again.Decode(iot::series::EncodeBlock(rows), error) || again.size() != rows.size()) {
    std::abort();
  }
  const auto rows_again = again.Rows();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].id != rows_again[i].id || rows[i].ts_ms != rows_again[i].ts_ms ||
        rows[i].received_ms != rows_again[i].received_ms ||
        rows[i].values.size() != rows_again[i].values.size()) {
      std::abort();
    }
  }
  return 0;
}
