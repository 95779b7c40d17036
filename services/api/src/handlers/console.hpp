#pragma once

// The web console (web/, built by `npm run build`): its files are read into memory once at start and
// served at `/` with the SPA fallback. Serving from memory keeps file I/O off the I/O threads and makes
// path traversal impossible: only files found under the directory at start can ever be answered.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "http/router.hpp"

namespace iot::api {

class ConsoleFiles final {
 public:
  struct File {
    std::string content_type;
    std::string body;
  };
  // Upper bound on what is held in memory (the built console is a few hundred KiB).
  static constexpr std::size_t kMaxTotalBytes = 64u << 20;

  // Reads every regular file under `dir` (symbolic links are skipped). A missing directory gives an
  // empty set (the console is then answered with a 404 that says where it was looked for); an
  // unreadable file or more than kMaxTotalBytes throws std::runtime_error.
  static ConsoleFiles Load(const std::string& dir);

  // `path` is "/"-separated and relative to the directory, e.g. "assets/index-3f2a.js".
  const File* Find(std::string_view path) const;
  bool Empty() const { return files_.empty(); }
  std::size_t Count() const { return files_.size(); }
  const std::string& Dir() const { return dir_; }

  // Content type by file extension (text types with charset=utf-8).
  static std::string ContentType(std::string_view path);

 private:
  std::string dir_;
  std::map<std::string, File, std::less<>> files_;
};

// Answers GET requests that no API route matches (Router::SetFallback): a file of the console, or
// index.html for client-side routes. `/api/...` and names with an extension that do not exist stay 404.
// Hashed assets (`assets/`) are cached for a year, everything else is revalidated.
void AddConsoleRoutes(Router& router, const ConsoleFiles& files);

}  // namespace iot::api
