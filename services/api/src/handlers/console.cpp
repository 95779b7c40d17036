#include "handlers/console.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "http/problem.hpp"
#include "iot/common/log.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.console";

// Only our own origin: the console makes no external request, and a hostile value in device data
// cannot load or send anything elsewhere. uPlot sets inline styles, hence 'unsafe-inline' for style.
constexpr const char* kCsp =
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

bool SafeSegment(std::string_view segment) {
  return !segment.empty() && segment.front() != '.' &&
         segment.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

Response FileResponse(const ConsoleFiles::File& file, bool immutable) {
  Response response;
  response.status = 200;
  response.content_type = file.content_type;
  response.body = file.body;
  response.headers = {
      {"Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache"},
      {"X-Content-Type-Options", "nosniff"},
      {"Content-Security-Policy", kCsp},
      {"Referrer-Policy", "no-referrer"},
  };
  return response;
}

Response NotFoundText(std::string text) {
  Response response;
  response.status = 404;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(text);
  response.headers = {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-cache"}};
  return response;
}

}  // namespace

std::string ConsoleFiles::ContentType(std::string_view path) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    if (auto it = kTypes.find(path.substr(dot)); it != kTypes.end()) {
      return it->second;
    }
  }
  return "application/octet-stream";
}

ConsoleFiles ConsoleFiles::Load(const std::string& dir) {
  namespace fs = std::filesystem;
  ConsoleFiles files;
  files.dir_ = dir;
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) {
    return files;
  }
  std::size_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto status = it->symlink_status(ec);
    if (ec || !fs::is_regular_file(status)) {
      continue;  // directories are descended into; links and special files are never served
    }
    const std::string relative = fs::relative(it->path(), dir, ec).generic_string();
    if (ec || relative.empty() || relative.front() == '.') {
      continue;  // build stamps and other dot files
    }
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in.good() && !in.eof()) {
      throw std::runtime_error("cannot read " + it->path().string());
    }
    total += body.str().size();
    if (total > kMaxTotalBytes) {
      throw std::runtime_error("web console directory " + dir + " holds more than " +
                               std::to_string(kMaxTotalBytes >> 20) + " MiB");
    }
    files.files_.emplace(relative, File{ContentType(relative), std::move(body).str()});
  }
  if (ec) {
    throw std::runtime_error("cannot list " + dir + ": " + ec.message());
  }
  return files;
}

const ConsoleFiles::File* ConsoleFiles::Find(std::string_view path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

void AddConsoleRoutes(Router& router, const ConsoleFiles& files) {
  if (files.Empty()) {
    IOT_LOG_WARN(kLog, "msg=\"web console not served: no built files\" dir=" << log::Quote(files.Dir()));
  } else {
    IOT_LOG_INFO(kLog, "msg=\"web console\" dir=" << log::Quote(files.Dir()) << " files=" << files.Count());
  }
  router.SetFallback([&files](Request&& request, Respond respond) {
    const auto& segments = request.segments;
    if (!segments.empty() && segments.front() == "api") {
      throw ApiError::NotFound("no such resource: " + request.path);
    }
    std::string path;
    for (const auto& segment : segments) {
      if (!SafeSegment(segment)) {
        respond(NotFoundText("not found\n"));
        return;
      }
      path += (path.empty() ? "" : "/") + segment;
    }
    if (!path.empty()) {
      if (const auto* file = files.Find(path)) {
        respond(FileResponse(*file, segments.front() == "assets"));
        return;
      }
      // A missing asset or file name stays 404; any other path is a client-side route.
      if (segments.front() == "assets" || segments.back().find('.') != std::string::npos) {
        respond(NotFoundText("not found\n"));
        return;
      }
    }
    if (const auto* index = files.Find("index.html")) {
      respond(FileResponse(*index, false));
      return;
    }
    respond(NotFoundText("the web console is not built: no index.html in " + files.Dir() +
                         " (run deploy/local/run.sh or web/build.sh, or set IOT_WEB_DIR)\n"));
  });
}

}  // namespace iot::api
