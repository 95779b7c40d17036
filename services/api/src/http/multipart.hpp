#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "iot/common/result.hpp"

namespace iot::api {

// The boundary of a `multipart/form-data; boundary=...` Content-Type (quoted or not), or "" when the
// header is not multipart/form-data or names no valid boundary (1-70 characters, RFC 2046).
std::string MultipartBoundary(std::string_view content_type);

// A multipart/form-data body (RFC 7578) read as it arrives: the form fields before the file part are
// collected (each at most `max_field_bytes`, at most `max_fields` of them), then the file part's bytes
// stream out through ReadFile without the body ever being held whole. Fields must come before the
// file part, and nothing but the closing delimiter may follow it. The source is pulled in pieces of
// at most 64 KiB; it returns 0 at the end of the body, or an error (passed on unchanged).
//
// A malformed body (no file part, headers too long, a field too long, a body ending inside a part,
// fields after the file) makes ReadUntilFile / ReadFile fail with errc::bad_message and sets
// Problem() to what is wrong.
class MultipartReader {
 public:
  using Source = std::function<Result<std::size_t>(char* out, std::size_t capacity)>;

  MultipartReader(std::string boundary, std::string file_field, Source source,
                  std::size_t max_field_bytes = 8192, std::size_t max_fields = 16);

  // Reads up to the start of the file part's content; `fields` gets the fields before it (name to
  // value; a name given twice is malformed), `filename` the file part's filename parameter ("" if none).
  Result<void> ReadUntilFile(std::map<std::string, std::string>& fields, std::string& filename);
  // The file part's next bytes: up to `capacity` into `out`, 0 once the part ended (and the closing
  // delimiter was read).
  Result<std::size_t> ReadFile(char* out, std::size_t capacity);

  const std::string& Problem() const { return problem_; }

 private:
  Result<bool> Fill();  // false at the end of the body
  Result<void> Fail(std::string problem);
  // Makes buf_ hold `text` from pos_ on (reading more as needed), limited to `limit` bytes before it.
  Result<std::size_t> FindFilling(std::string_view text, std::size_t limit, const char* what);
  void Compact();

  std::string delimiter_;  // "\r\n--" + boundary
  std::string file_field_;
  Source source_;
  std::size_t max_field_bytes_;
  std::size_t max_fields_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  bool in_file_ = false;
  bool done_ = false;
  std::string problem_;
};

}  // namespace iot::api
