#include "http/multipart.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

using iot::api::MultipartBoundary;
using iot::api::MultipartReader;

namespace {

// A body handed over `step` bytes at a time (1: byte by byte, the hardest case for the delimiter search).
MultipartReader::Source Chunks(const std::string& body, std::size_t step) {
  auto at = std::make_shared<std::size_t>(0);
  return [body, step, at](char* out, std::size_t capacity) -> iot::Result<std::size_t> {
    const std::size_t n = std::min({step, capacity, body.size() - *at});
    std::copy_n(body.data() + *at, n, out);
    *at += n;
    return n;
  };
}

struct Parsed {
  bool ok = false;
  std::map<std::string, std::string> fields;
  std::string filename;
  std::string file;
  std::string problem;
};

Parsed Parse(const std::string& body, std::size_t step, std::size_t max_field = 8192) {
  MultipartReader reader("XyZ", "file", Chunks(body, step), max_field);
  Parsed p;
  auto head = reader.ReadUntilFile(p.fields, p.filename);
  if (!head) {
    p.problem = reader.Problem();
    return p;
  }
  char buffer[7];
  for (;;) {
    auto n = reader.ReadFile(buffer, sizeof buffer);
    if (!n) {
      CHECK(n.error() == boost::system::errc::bad_message);
      p.problem = reader.Problem();
      return p;
    }
    if (*n == 0) {
      break;
    }
    p.file.append(buffer, *n);
  }
  p.ok = true;
  return p;
}

std::string Form(const std::string& file) {
  return "preamble is ignored\r\n--XyZ\r\n"
         "Content-Disposition: form-data; name=\"version\"\r\n\r\n2.0.0\r\n"
         "--XyZ  \r\n"
         "content-disposition: form-data; name=module\r\n\r\nwifi\r\n"
         "--XyZ\r\n"
         "Content-Disposition: form-data; name=\"file\"; filename=\"fw \\\"2\\\".bin\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         file + "\r\n--XyZ--\r\nepilogue";
}

}  // namespace

TEST_CASE("Multipart: the boundary of a form-data Content-Type", "[api][multipart]") {
  CHECK(MultipartBoundary("multipart/form-data; boundary=abc") == "abc");
  CHECK(MultipartBoundary("Multipart/Form-Data;boundary=\"a b'c\"") == "a b'c");
  CHECK(MultipartBoundary("multipart/form-data; charset=utf-8; boundary=----x1") == "----x1");
  CHECK(MultipartBoundary("multipart/form-data").empty());
  CHECK(MultipartBoundary("multipart/mixed; boundary=abc").empty());
  CHECK(MultipartBoundary("multipart/form-data; boundary=").empty());
  CHECK(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a')).empty());
  CHECK(MultipartBoundary("multipart/form-data; boundary=a{b").empty());
}

TEST_CASE("Multipart: fields before the file part, the file streamed whatever the chunking",
          "[api][multipart]") {
  // A file holding near-misses of the delimiter "\r\n--XyZ" (a wrong letter, one dash, no \n, no \r),
  // and ending with the start of one.
  const std::string content =
      "abc\r\n--XyY\r\n-XyZ\r--XyZ\n--XyZ" + std::string(5000, 'q') + std::string("\0\r\n--Xy", 7);
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{100000}}) {
    INFO("step " << step);
    Parsed p = Parse(Form(content), step);
    REQUIRE(p.ok);
    CHECK(p.fields == std::map<std::string, std::string>{{"version", "2.0.0"}, {"module", "wifi"}});
    CHECK(p.filename == "fw \"2\".bin");
    CHECK(p.file == content);
  }
  Parsed empty = Parse(Form(""), 5);
  REQUIRE(empty.ok);
  CHECK(empty.file.empty());
  Parsed first = Parse("--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nbytes\r\n--XyZ--", 2);
  REQUIRE(first.ok);
  CHECK(first.fields.empty());
  CHECK(first.filename.empty());
  CHECK(first.file == "bytes");
}

TEST_CASE("Multipart: malformed bodies are refused with what is wrong", "[api][multipart]") {
  CHECK(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--", 4).problem ==
        "no part named file");
  CHECK(Parse("no delimiter at all", 4).problem == "the body ended inside the preamble");
  CHECK(Parse("--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nbytes", 4).problem ==
        "the body ended inside the file part");
  CHECK(Parse("--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nb\r\n--XyZ\r\n"
              "Content-Disposition: form-data; name=version\r\n\r\n1\r\n--XyZ--",
              4)
            .problem == "fields after the file part: send them before it, or in the query");
  CHECK(Parse("--XyZ\r\nContent-Disposition: attachment; name=file\r\n\r\nb\r\n--XyZ--", 4).problem ==
        "a part's Content-Disposition is not form-data");
  CHECK(Parse("--XyZ\r\nContent-Type: text/plain\r\n\r\nb\r\n--XyZ--", 4).problem ==
        "a part without a name (Content-Disposition: form-data; name=...)");
  CHECK(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ\r\n"
              "Content-Disposition: form-data; name=a\r\n\r\n2\r\n--XyZ--",
              4)
            .problem == "field a is given more than once");
  CHECK(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n" + std::string(100, 'v') +
                  "\r\n--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--XyZ--",
              7, 50)
            .problem == "field a longer than 50 bytes");
  CHECK(Parse("--XyZ\r\n" + std::string(10000, 'h'), 1000).problem ==
        "a part's headers longer than 8192 bytes");
  CHECK(Parse("--XyZ garbage\r\n", 3).problem == "malformed delimiter line");
}

TEST_CASE("Multipart: an error of the body source is passed on unchanged", "[api][multipart]") {
  int calls = 0;
  MultipartReader reader("b", "file", [&](char* out, std::size_t) -> iot::Result<std::size_t> {
    if (calls++ == 0) {
      const std::string start = "--b\r\nContent-Disposition: form-data; name=file\r\n\r\nxyz";
      std::copy(start.begin(), start.end(), out);
      return start.size();
    }
    return boost::system::errc::make_error_code(boost::system::errc::timed_out);
  });
  std::map<std::string, std::string> fields;
  std::string filename;
  REQUIRE(reader.ReadUntilFile(fields, filename));
  char buffer[64];
  auto n = reader.ReadFile(buffer, sizeof buffer);
  // "xyz" could be the start of a delimiter only if it were at least as long as one: it is handed out
  // at once only when it cannot be; here ("\r\n--b" is 5 bytes) it waits for more and meets the error.
  REQUIRE_FALSE(n);
  CHECK(n.error() == boost::system::errc::timed_out);
  CHECK(reader.Problem().empty());
}
