#include "http/multipart.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <boost/system/errc.hpp>

namespace iot::api {
namespace {

constexpr std::size_t kPull = 64 * 1024;
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxPreambleBytes = 64 * 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// The parameters of a header value after its first ';': name (lower-case) to value (unquoted).
std::map<std::string, std::string> Parameters(std::string_view value) {
  std::map<std::string, std::string> out;
  std::size_t at = value.find(';');
  while (at != std::string_view::npos && at < value.size()) {
    ++at;
    const std::size_t eq = value.find('=', at);
    if (eq == std::string_view::npos) {
      break;
    }
    std::string name = Lower(Trim(value.substr(at, eq - at)));
    std::size_t v = eq + 1;
    while (v < value.size() && (value[v] == ' ' || value[v] == '\t')) {
      ++v;
    }
    std::string text;
    if (v < value.size() && value[v] == '"') {
      ++v;
      while (v < value.size() && value[v] != '"') {
        if (value[v] == '\\' && v + 1 < value.size()) {
          ++v;
        }
        text += value[v++];
      }
      at = value.find(';', v);
    } else {
      const std::size_t end = value.find(';', v);
      text = std::string(Trim(value.substr(v, end == std::string_view::npos ? value.npos : end - v)));
      at = end;
    }
    out.emplace(std::move(name), std::move(text));
  }
  return out;
}

bool IsBoundaryChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

}  // namespace

std::string MultipartBoundary(std::string_view content_type) {
  const std::string type = Lower(Trim(content_type.substr(0, content_type.find(';'))));
  if (type != "multipart/form-data") {
    return "";
  }
  auto params = Parameters(content_type);
  auto it = params.find("boundary");
  if (it == params.end()) {
    return "";
  }
  const std::string& b = it->second;
  if (b.empty() || b.size() > 70 || b.back() == ' ' || !std::all_of(b.begin(), b.end(), IsBoundaryChar)) {
    return "";
  }
  return b;
}

MultipartReader::MultipartReader(std::string boundary, std::string file_field, Source source,
                                 std::size_t max_field_bytes, std::size_t max_fields)
    : delimiter_("\r\n--" + std::move(boundary)),
      file_field_(std::move(file_field)),
      source_(std::move(source)),
      max_field_bytes_(max_field_bytes),
      max_fields_(max_fields),
      buf_("\r\n") {}  // so the first delimiter, at the very start of the body, matches too

Result<void> MultipartReader::Fail(std::string problem) {
  problem_ = std::move(problem);
  return boost::system::errc::make_error_code(boost::system::errc::bad_message);
}

void MultipartReader::Compact() {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

Result<bool> MultipartReader::Fill() {
  if (eof_) {
    return false;
  }
  Compact();
  const std::size_t had = buf_.size();
  buf_.resize(had + kPull);
  auto n = source_(buf_.data() + had, kPull);
  if (!n) {
    buf_.resize(had);
    return Result<bool>(boost::system::in_place_error, n.error());  // (bool would take an error_code too)
  }
  buf_.resize(had + *n);
  if (*n == 0) {
    eof_ = true;
    return false;
  }
  return true;
}

Result<std::size_t> MultipartReader::FindFilling(std::string_view text, std::size_t limit, const char* what) {
  std::size_t from = pos_;
  for (;;) {
    const std::size_t found = buf_.find(text, from);
    if (found != std::string::npos && found - pos_ <= limit) {
      return found - pos_;
    }
    if (buf_.size() - pos_ > limit + text.size()) {
      auto r = Fail(std::string(what) + " longer than " + std::to_string(limit) + " bytes");
      return r.error();
    }
    from = std::max(pos_, buf_.size() >= text.size() ? buf_.size() - text.size() + 1 : pos_);
    const std::size_t base = pos_;
    auto more = Fill();
    if (!more) {
      return more.error();
    }
    from = from - base + pos_;  // Fill may have moved the unread bytes to the front
    if (!*more) {
      auto r = Fail(std::string("the body ended inside ") + what);
      return r.error();
    }
  }
}

Result<void> MultipartReader::ReadUntilFile(std::map<std::string, std::string>& fields,
                                            std::string& filename) {
  // The preamble, up to the first delimiter.
  auto first = FindFilling(delimiter_, kMaxPreambleBytes, "the preamble");
  if (!first) {
    return first.error();
  }
  pos_ += *first + delimiter_.size();
  for (;;) {
    // After a delimiter: "--" ends the body, else optional white space and CRLF, then the part's headers.
    while (buf_.size() - pos_ < 2) {
      auto more = Fill();
      if (!more) {
        return more.error();
      }
      if (!*more) {
        return Fail("the body ended after a delimiter");
      }
    }
    if (buf_.compare(pos_, 2, "--") == 0) {
      return Fail(fields.empty() && file_field_.empty() ? "no parts" : "no part named " + file_field_);
    }
    auto line_end = FindFilling("\r\n", 256, "the delimiter line");
    if (!line_end) {
      return line_end.error();
    }
    if (!Trim(std::string_view(buf_).substr(pos_, *line_end)).empty()) {
      return Fail("malformed delimiter line");
    }
    pos_ += *line_end + 2;
    std::string headers;
    if (buf_.size() - pos_ >= 2 && buf_.compare(pos_, 2, "\r\n") == 0) {
      pos_ += 2;  // a part without headers
    } else {
      auto end = FindFilling("\r\n\r\n", kMaxHeaderBytes, "a part's headers");
      if (!end) {
        return end.error();
      }
      headers = buf_.substr(pos_, *end);
      pos_ += *end + 4;
    }
    std::string name;
    bool has_filename = false;
    std::string part_filename;
    for (std::size_t at = 0; at <= headers.size();) {
      const std::size_t eol = std::min(headers.find("\r\n", at), headers.size());
      const std::string_view line = std::string_view(headers).substr(at, eol - at);
      at = eol + 2;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        if (!Trim(line).empty()) {
          return Fail("malformed part header");
        }
        continue;
      }
      if (Lower(Trim(line.substr(0, colon))) != "content-disposition") {
        continue;
      }
      const std::string_view value = Trim(line.substr(colon + 1));
      if (Lower(Trim(value.substr(0, value.find(';')))) != "form-data") {
        return Fail("a part's Content-Disposition is not form-data");
      }
      auto params = Parameters(value);
      name = params["name"];
      if (auto f = params.find("filename"); f != params.end()) {
        has_filename = true;
        part_filename = f->second;
      }
    }
    if (name.empty()) {
      return Fail("a part without a name (Content-Disposition: form-data; name=...)");
    }
    if (name == file_field_) {
      filename = has_filename ? part_filename : "";
      in_file_ = true;
      return {};
    }
    auto value_end = FindFilling(delimiter_, max_field_bytes_, ("field " + name).c_str());
    if (!value_end) {
      return value_end.error();
    }
    if (fields.size() >= max_fields_) {
      return Fail("more than " + std::to_string(max_fields_) + " fields");
    }
    if (!fields.emplace(name, buf_.substr(pos_, *value_end)).second) {
      return Fail("field " + name + " is given more than once");
    }
    pos_ += *value_end + delimiter_.size();
  }
}

Result<std::size_t> MultipartReader::ReadFile(char* out, std::size_t capacity) {
  if (done_) {
    return std::size_t{0};
  }
  if (!in_file_) {
    auto r = Fail("ReadFile before the file part");
    return r.error();
  }
  for (;;) {
    const std::size_t found = buf_.find(delimiter_, pos_);
    if (found != std::string::npos && found == pos_) {
      // The part ended: only the closing "--" may follow.
      pos_ += delimiter_.size();
      while (buf_.size() - pos_ < 2) {
        auto more = Fill();
        if (!more) {
          return more.error();
        }
        if (!*more) {
          auto r = Fail("the body ended after the file part without the closing delimiter");
          return r.error();
        }
      }
      if (buf_.compare(pos_, 2, "--") != 0) {
        auto r = Fail("fields after the file part: send them before it, or in the query");
        return r.error();
      }
      done_ = true;
      in_file_ = false;
      return std::size_t{0};
    }
    // Bytes certainly before any delimiter: up to a found one, else all but a possible delimiter's start.
    std::size_t safe = 0;
    if (found != std::string::npos) {
      safe = found - pos_;
    } else if (buf_.size() - pos_ >= delimiter_.size()) {
      safe = buf_.size() - pos_ - (delimiter_.size() - 1);
    }
    if (safe > 0 && capacity > 0) {
      const std::size_t n = std::min(safe, capacity);
      std::copy_n(buf_.data() + pos_, n, out);
      pos_ += n;
      return n;
    }
    auto more = Fill();
    if (!more) {
      return more.error();
    }
    if (!*more) {
      auto r = Fail("the body ended inside the file part");
      return r.error();
    }
  }
}

}  // namespace iot::api
