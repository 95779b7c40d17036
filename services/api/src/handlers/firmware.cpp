// Firmware packages over REST. POST /api/v1/products/{pk}/firmwares takes the package as the raw
// request body (application/octet-stream) or as the `file` part of a multipart/form-data body (its
// form fields before it; http/multipart.hpp), streamed: the transport hands it over chunk by chunk
// (http/body_stream.hpp) and store::CreateFirmware writes each chunk into the package's PostgreSQL large
// object while computing its MD5 and SHA-256, so neither the API nor the database holds the package in
// memory. The upload runs on one DB pool worker for as long as the body arrives (the large object is
// written inside one transaction: a broken upload leaves nothing behind), so at most kMaxUploads run at
// once and the rest get 503. GET lists and reads the metadata, DELETE removes a package no running job
// uses (409 otherwise) together with its large object.
//
// GET /api/v1/files/firmware/{firmwareId}?expires=&signature= is the link a device gets in an upgrade
// push (alink::FirmwareFileUrl): no token, the signature and expiry are the authorisation. It answers
// a single byte range (Range: bytes=a-b, a-, -n) with 206 so a device can resume a cut download, 416
// for a range past the end, and streams the bytes from the large object piece by piece (one short read
// transaction per piece). Downloads that start at byte 0 are counted on the firmware (REST `downloads`)
// and, when the link names the device's task (`task`, signed with the path), on that task;
// every answer is counted in iot_firmware_download_requests_total{status}.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "handlers/common.hpp"
#include "http/byte_range.hpp"
#include "http/multipart.hpp"
#include "http/url_problem.hpp"
#include "iot/alink/ota.hpp"
#include "iot/common/signed_url.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/ota.hpp"

namespace iot::api {
namespace {

constexpr int kMaxUploads = 2;
constexpr std::size_t kDownloadPiece = 256 * 1024;
constexpr std::size_t kMaxSrcVersions = 100;
constexpr std::size_t kMaxExtDataBytes = 4096;

// Versions and modules: 1-64 printable ASCII characters, no spaces and no commas (srcVersions is a
// comma-separated list).
bool IsValidVersionText(std::string_view text, std::size_t max_chars) {
  return !text.empty() && text.size() <= max_chars &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f && c != ','; });
}

// A metadata field of an upload: from the query string, or from a form field of a multipart body
// (`fields`; a field given both ways is refused).
std::string QueryText(const Request& request, std::string_view name,
                      const std::map<std::string, std::string>* fields = nullptr) {
  if (request.query.count(std::string(name)) > 1) {
    throw ApiError::BadRequest("query parameter " + std::string(name) + " is given more than once");
  }
  if (fields != nullptr) {
    if (auto it = fields->find(std::string(name)); it != fields->end()) {
      if (request.Query(name)) {
        throw ApiError::BadRequest(std::string(name) + " is given both in the query and as a form field");
      }
      return it->second;
    }
  }
  return std::string(request.Query(name).value_or(""));
}

nlohmann::json FirmwareJson(const store::FirmwareInfo& f) {
  return {{"id", f.firmware_id},
          {"productKey", f.product_key},
          {"module", f.module},
          {"version", f.version},
          {"srcVersions", f.src_versions},
          {"isDiff", f.is_diff},
          {"extData", f.ext_data_json ? JsonValue(*f.ext_data_json) : nlohmann::json(nullptr)},
          {"size", f.size},
          {"md5", f.md5},
          {"sha256", f.sha256},
          {"downloads", f.downloads},
          {"createdAt", f.created_at},
          {"createdBy", f.created_by}};
}

store::FirmwareCreate CreateOf(const Request& request, const std::string& pk,
                               const std::map<std::string, std::string>* fields = nullptr) {
  if (fields != nullptr) {
    for (const auto& [name, value] : *fields) {
      if (name != "version" && name != "module" && name != "srcVersions" && name != "isDiff" &&
          name != "extData") {
        throw ApiError::BadRequest("unknown form field " + name +
                                   " (version, module, srcVersions, isDiff, extData and file)");
      }
    }
  }
  store::FirmwareCreate create;
  create.product_key = pk;
  create.version = QueryText(request, "version", fields);
  if (!IsValidVersionText(create.version, store::kMaxVersionChars)) {
    throw ApiError::BadRequest("version is required: 1-64 printable characters, no spaces or commas");
  }
  if (std::string module = QueryText(request, "module", fields); !module.empty()) {
    if (!IsValidVersionText(module, store::kMaxModuleChars)) {
      throw ApiError::BadRequest("module: 1-64 printable characters, no spaces or commas");
    }
    create.module = std::move(module);
  }
  const std::string src = QueryText(request, "srcVersions", fields);
  for (std::size_t at = 0; !src.empty() && at <= src.size();) {
    const auto comma = std::min(src.find(',', at), src.size());
    std::string version = src.substr(at, comma - at);
    if (!IsValidVersionText(version, store::kMaxVersionChars)) {
      throw ApiError::BadRequest("srcVersions: comma-separated versions of 1-64 printable characters");
    }
    create.src_versions.push_back(std::move(version));
    at = comma + 1;
  }
  if (create.src_versions.size() > kMaxSrcVersions) {
    throw ApiError::BadRequest("srcVersions: at most " + std::to_string(kMaxSrcVersions) + " versions");
  }
  const std::string diff = QueryText(request, "isDiff", fields);
  if (diff == "true" || diff == "1") {
    create.is_diff = true;
  } else if (!diff.empty() && diff != "false" && diff != "0") {
    throw ApiError::BadRequest("isDiff: true or false");
  }
  if (std::string ext = QueryText(request, "extData", fields); !ext.empty()) {
    auto parsed = nlohmann::json::parse(ext, nullptr, false);
    if (ext.size() > kMaxExtDataBytes || !parsed.is_object()) {
      throw ApiError::BadRequest("extData: a JSON object of at most " + std::to_string(kMaxExtDataBytes) +
                                 " bytes");
    }
    create.ext_data_json = parsed.dump();
  }
  create.created_by = request.principal ? request.principal->name : "";
  return create;
}

// Releases an upload slot when the last copy of the work goes.
struct UploadSlot {
  explicit UploadSlot(std::shared_ptr<std::atomic<int>> count) : count_(std::move(count)) {}
  ~UploadSlot() { count_->fetch_sub(1); }
  UploadSlot(const UploadSlot&) = delete;
  UploadSlot& operator=(const UploadSlot&) = delete;

 private:
  std::shared_ptr<std::atomic<int>> count_;
};

// Abandons a streamed body when the upload ends, whatever the outcome: nothing more is read.
struct AbandonBody {
  explicit AbandonBody(Request& r) : request(r) {}
  ~AbandonBody() {
    if (request.body_stream) {
      request.body_stream->Abandon();
    }
  }
  AbandonBody(const AbandonBody&) = delete;
  AbandonBody& operator=(const AbandonBody&) = delete;
  Request& request;
};

void UploadFirmware(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string type;
  const std::string_view header = request.Header("content-type");
  for (char c : header.substr(0, header.find(';'))) {
    if (c != ' ' && c != '\t') {
      type += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  // The raw package as the body, or a multipart/form-data form with a `file` part (the metadata as
  // form fields before it, or in the query).
  std::string boundary;
  std::optional<store::FirmwareCreate> raw_create;
  if (type == "multipart/form-data") {
    boundary = MultipartBoundary(header);
    if (boundary.empty()) {
      throw ApiError::BadRequest("multipart/form-data needs a boundary parameter of 1-70 characters");
    }
  } else if (type == "application/octet-stream") {
    raw_create = CreateOf(request, pk);
  } else {
    throw ApiError::UnsupportedMediaType(
        "send the package as the raw body with Content-Type: application/octet-stream, or as the part "
        "`file` of a multipart/form-data body");
  }
  const std::int64_t limit = context.firmware_max_bytes;
  if (context.firmware_uploads->fetch_add(1) >= kMaxUploads) {
    context.firmware_uploads->fetch_sub(1);
    ApiError busy = ApiError::Unavailable("too many firmware uploads at once, retry later");
    busy.headers.emplace_back("Retry-After", "5");
    throw busy;
  }
  auto slot = std::make_shared<UploadSlot>(context.firmware_uploads);
  RunOnDb(context.pool, respond,
          [request = std::move(request), pk, raw_create, boundary, limit, slot](store::Db& db) mutable {
            AbandonBody abandon(request);
            std::optional<boost::system::error_code> body_error;
            std::size_t offset = 0;  // into request.body when the transport did not stream it (tests)
            store::ChunkSource body = [&](char* out, std::size_t capacity) -> Result<std::size_t> {
              if (!request.body_stream) {
                const std::size_t n = std::min(capacity, request.body.size() - offset);
                std::copy_n(request.body.data() + offset, n, out);
                offset += n;
                return n;
              }
              auto n = request.body_stream->Read(out, capacity);
              if (!n) {
                body_error = n.error();
              }
              return n;
            };
            store::FirmwareCreate create;
            store::ChunkSource source = body;
            std::unique_ptr<MultipartReader> form;
            if (raw_create) {
              create = *raw_create;
            } else {
              form = std::make_unique<MultipartReader>(boundary, "file", body);
              std::map<std::string, std::string> fields;
              std::string filename;
              auto read = form->ReadUntilFile(fields, filename);
              if (body_error) {
                throw FromBodyError(*body_error, static_cast<std::uint64_t>(limit));
              }
              if (!read) {
                throw ApiError::BadRequest("multipart body: " + form->Problem());
              }
              create = CreateOf(request, pk, &fields);
              source = [&form](char* out, std::size_t capacity) { return form->ReadFile(out, capacity); };
            }
            auto info = store::CreateFirmware(db, create, limit, source);
            if (body_error) {
              throw FromBodyError(*body_error, static_cast<std::uint64_t>(limit));
            }
            if (form && !form->Problem().empty()) {
              throw ApiError::BadRequest("multipart body: " + form->Problem());
            }
            if (!info && store::Is(info.error(), store::Errc::kInvalid)) {
              // Module, version and extData were checked above: only the size can be refused here.
              throw ApiError::PayloadTooLarge("the package exceeds " + std::to_string(limit) + " bytes");
            }
            if (!info && store::Is(info.error(), store::Errc::kConflict)) {
              throw ApiError::Conflict("product " + create.product_key + " already has version " +
                                       create.version + " of module " + create.module);
            }
            store::FirmwareInfo firmware = Unwrap(std::move(info), "no such product: " + create.product_key);
            nlohmann::json out = FirmwareJson(firmware);
            Audit(db, request, "ota.firmware.create", create.product_key,
                  {{"id", firmware.firmware_id},
                   {"module", firmware.module},
                   {"version", firmware.version},
                   {"size", firmware.size},
                   {"sha256", firmware.sha256}});
            Response response = JsonOk(201, out);
            response.headers.emplace_back(
                "Location", "/api/v1/products/" + create.product_key + "/firmwares/" + firmware.firmware_id);
            return response;
          });
}

void ListFirmwares(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  RunOnDb(context.pool, respond, [pk](store::Db& db) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& f : Unwrap(store::ListFirmwares(db, pk), "no such product: " + pk)) {
      items.push_back(FirmwareJson(f));
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

void GetFirmware(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string id = request.Param("firmwareId");
  RunOnDb(context.pool, respond, [pk, id](store::Db& db) {
    return JsonOk(200, FirmwareJson(Unwrap(store::GetFirmware(db, pk, id), "no such firmware: " + id)));
  });
}

void DeleteFirmware(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string id = request.Param("firmwareId");
  RunOnDb(context.pool, respond, [request = std::move(request), pk, id](store::Db& db) {
    auto deleted = store::DeleteFirmware(db, pk, id);
    if (!deleted && store::Is(deleted.error(), store::Errc::kConflict)) {
      throw ApiError::Conflict("a running OTA job uses firmware " + id +
                               " (cancel the job or let it finish)");
    }
    Unwrap(std::move(deleted), "no such firmware: " + id);
    Audit(db, request, "ota.firmware.delete", pk, {{"id", id}});
    Response response;
    response.status = 204;
    response.body.clear();
    return response;
  });
}

// ---------------------------------------------------------------------------------------------------
// Downloads

// The bytes of a package range, one read transaction per piece on the DB pool.
class FirmwarePieces final : public ResponseSource {
 public:
  FirmwarePieces(store::DbPool& pool, std::string firmware_id, std::uint64_t first, std::uint64_t length)
      : pool_(pool), firmware_id_(std::move(firmware_id)), next_(first), left_(length) {}

  void Next(std::function<void(Result<std::string>)> done) override {
    if (left_ == 0) {
      done(std::string());
      return;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, kDownloadPiece));
    const auto offset = static_cast<std::int64_t>(next_);
    next_ += n;
    left_ -= n;
    auto shared_done = std::make_shared<std::function<void(Result<std::string>)>>(std::move(done));
    const bool queued = pool_.Submit([id = firmware_id_, offset, n, shared_done](store::Db& db) {
      (*shared_done)(store::ReadFirmwareRange(db, id, offset, n));
    });
    if (!queued) {
      (*shared_done)(make_error_code(store::Errc::kUnavailable));
    }
  }

 private:
  store::DbPool& pool_;
  std::string firmware_id_;
  std::uint64_t next_;
  std::uint64_t left_;
};

void CountRequest(HandlerContext& context, int status) {
  if (context.metrics != nullptr) {
    context.metrics->Increment("iot_firmware_download_requests_total",
                               "Firmware download requests answered, by status",
                               {{"status", std::to_string(status)}});
  }
}

// The task a link names (`task`, signed with the path): 0 when it names none, -1 when malformed.
std::int64_t LinkTask(const Request& request) {
  const std::string_view task = request.Query("task").value_or("");
  if (task.empty()) {
    return 0;
  }
  if (task.size() > 18 ||
      !std::all_of(task.begin(), task.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  return std::stoll(std::string(task));
}

UrlCheck CheckLink(const std::string& key, const std::string& id, const Request& request) {
  if (LinkTask(request) < 0 || request.query.count("task") > 1) {
    return UrlCheck::kBadSignature;
  }
  return VerifyUrl(key, alink::FirmwareSignedResource(id, request.Query("task").value_or("")),
                   request.Query("expires").value_or(""), request.Query("signature").value_or(""),
                   NowMs() / 1000);
}

void DownloadFirmware(HandlerContext& context, Request&& request, Respond respond) {
  std::string id = request.Param("firmwareId");
  if (auto key = CachedUrlSigningKey(context)) {  // known: a bad link is refused without a DB worker
    if (UrlCheck check = CheckLink(*key, id, request); check != UrlCheck::kValid) {
      CountRequest(context, FromUrlCheck(check).status);
      throw FromUrlCheck(check);
    }
  }
  RunOnDb(context.pool, respond, [&context, request = std::move(request), id](store::Db& db) {
    if (UrlCheck check = CheckLink(UrlSigningKey(context, db), id, request); check != UrlCheck::kValid) {
      CountRequest(context, FromUrlCheck(check).status);
      throw FromUrlCheck(check);
    }
    store::FirmwareInfo firmware =
        Unwrap(store::GetFirmwareById(db, id), "firmware " + id + " no longer exists");
    const auto size = static_cast<std::uint64_t>(firmware.size);
    Response response;
    response.headers = {{"Accept-Ranges", "bytes"},
                        {"Cache-Control", "private, no-store"},
                        {"ETag", "\"" + firmware.sha256 + "\""}};
    ByteRange range{.first = 0, .length = size};
    switch (ParseRange(request.Header("range"), size, range)) {
      case RangeKind::kUnsatisfiable: {
        CountRequest(context, 416);
        ApiError error{.status = 416,
                       .detail = "the range is past the package's " + std::to_string(size) + " bytes"};
        error.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
        throw error;
      }
      case RangeKind::kPart:
        response.status = 206;
        response.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                           std::to_string(range.first + range.length - 1) +
                                                           "/" + std::to_string(size));
        break;
      case RangeKind::kWhole: response.status = 200; break;
    }
    if (range.first == 0) {
      Unwrap(store::CountFirmwareDownload(db, id, LinkTask(request)), "firmware " + id + " no longer exists");
    }
    CountRequest(context, response.status);
    response.content_type = "application/octet-stream";
    response.source = std::make_shared<FirmwarePieces>(context.pool, id, range.first, range.length);
    response.stream_length = range.length;
    return response;
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products/{pk}/firmwares", kAdmin, UploadFirmware},
    {"GET", "/api/v1/products/{pk}/firmwares", kViewer, ListFirmwares},
    {"GET", "/api/v1/products/{pk}/firmwares/{firmwareId}", kViewer, GetFirmware},
    {"DELETE", "/api/v1/products/{pk}/firmwares/{firmwareId}", kAdmin, DeleteFirmware},
    {"GET", "/api/v1/files/firmware/{firmwareId}", RouteOptions{.min_role = std::nullopt}, DownloadFirmware},
};

}  // namespace

void AddFirmwareRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api
