// Firmware packages through the real iot-api over its own PostgreSQL database: uploads streamed into a
// large object, raw or as multipart/form-data (checksums, the size limit before and while the body arrives,
// bad and hostile query values, an upload cut short, memory that does not grow with the package), list, get
// and delete (409 while a running job uses the package), and the signed download link devices get (Range
// 206/416, forged 403, expired 410, the download counter in REST and /metrics).

#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/rest_fixture.hpp"
#include "iot/alink/ota.hpp"
#include "iot/common/digest.hpp"
#include "iot/common/signed_url.hpp"
#include "iot/store/product_config.hpp"
#include "iot/testing/env.hpp"

using iot::api::itest::CheckProblem;
using iot::api::itest::Json;
using iot::api::itest::kAdminToken;
using iot::api::itest::Rest;
using iot::testing::HttpResponse;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPk = "fwProduct01";
constexpr std::size_t kLimit = 8 * 1024 * 1024;

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) {
    c = static_cast<char>(gen() & 0xff);
  }
  return out;
}

std::string Upload(const std::string& query) {
  return "/products/" + std::string(kPk) + "/firmwares" + query;
}

HttpResponse Post(Rest& rest, const std::string& query, const std::string& bytes,
                  const std::string& content_type = "application/octet-stream",
                  const std::string& token = kAdminToken) {
  return rest.Call("POST", Upload(query), bytes, token, content_type);
}

// A raw request head for RawConnection (no body).
std::string Head(const std::string& query, const std::string& framing) {
  return "POST /api/v1" + Upload(query) + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + kAdminToken +
         "\r\nContent-Type: application/octet-stream\r\n" + framing + "\r\n";
}

std::string Chunked(const std::string& bytes, std::size_t piece) {
  std::string out;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    const std::string part = bytes.substr(at, piece);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

std::int64_t Count(Rest& rest, const std::string& sql) {
  pqxx::connection c(rest.api.Dsn());
  pqxx::read_transaction tx(c);
  return tx.exec1(sql)[0].as<std::int64_t>();
}

// VmHWM (peak resident set) of a process, in KiB.
long PeakKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

// The value of one series in a /metrics text, -1 when absent.
double MetricValue(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

void CheckDigests(const json& f, const std::string& bytes) {
  iot::PackageDigest digest;
  digest.Update(bytes);
  CHECK(f["size"] == bytes.size());
  CHECK(f["md5"] == digest.Md5Hex());
  CHECK(f["sha256"] == digest.Sha256Hex());
}

}  // namespace

TEST_CASE("Firmware upload: the raw body streamed into PostgreSQL with its checksums, list, get, delete",
          "[integration][ota][firmware]") {
  Rest rest(iot::api::itest::Env{{"IOT_FIRMWARE_MAX_BYTES", std::to_string(kLimit)}});
  rest.Product(kPk);
  const std::int64_t objects_before = Count(rest, "SELECT count(*) FROM pg_largeobject_metadata");

  const std::string bytes = RandomBytes(3 * 1024 * 1024 + 17, 1);
  auto r =
      Post(rest, "?version=2.0.1&module=wifi&srcVersions=1.0.0,1.0.1&isDiff=false&extData=%7B%22k%22%3A1%7D",
           bytes);
  INFO(r.body);
  REQUIRE(r.status == 201);
  json f = Json(r);
  CheckDigests(f, bytes);
  CHECK(f["version"] == "2.0.1");
  CHECK(f["module"] == "wifi");
  CHECK(f["srcVersions"] == json::array({"1.0.0", "1.0.1"}));
  CHECK(f["isDiff"] == false);
  CHECK(f["extData"] == json{{"k", 1}});
  CHECK(f["downloads"] == 0);
  const std::string id = f["id"].get<std::string>();
  CHECK(id.size() == 32);
  CHECK(r.Header("location") == "/api/v1/products/" + std::string(kPk) + "/firmwares/" + id);
  CHECK(Count(rest, "SELECT count(*) FROM pg_largeobject_metadata") == objects_before + 1);

  SECTION("chunked transfer coding, the default module, a hostile but printable version") {
    const std::string small = RandomBytes(200000, 2);
    iot::testing::RawConnection raw(rest.api.Port());
    REQUIRE(raw.Send(Head("?version=%3Cx%3E%22%5C'&isDiff=1", "Transfer-Encoding: chunked\r\n") +
                     Chunked(small, 7000)));
    auto answer = raw.ReadResponse();
    INFO(answer.body);
    REQUIRE(answer.status == 201);
    json g = Json(answer);
    CheckDigests(g, small);
    CHECK(g["version"] == "<x>\"\\'");
    CHECK(g["module"] == "default");
    CHECK(g["isDiff"] == true);
    auto list = rest.Call("GET", Upload(""));
    REQUIRE(list.status == 200);
    CHECK(Json(list)["items"].size() == 2);
  }

  SECTION("get, the same version again, another product, delete with the large object") {
    auto got = rest.Call("GET", Upload("/" + id));
    REQUIRE(got.status == 200);
    CHECK(Json(got) == f);
    CheckProblem(Post(rest, "?version=2.0.1&module=wifi", "x"), 409);
    rest.Product("fwOther01");
    CheckProblem(rest.Call("GET", "/products/fwOther01/firmwares/" + id), 404);
    CheckProblem(rest.Call("DELETE", "/products/fwOther01/firmwares/" + id), 404);
    CheckProblem(rest.Call("GET", Upload("/" + std::string(32, 'a'))), 404);
    REQUIRE(rest.Call("DELETE", Upload("/" + id)).status == 204);
    CheckProblem(rest.Call("GET", Upload("/" + id)), 404);
    CHECK(Count(rest, "SELECT count(*) FROM pg_largeobject_metadata") == objects_before);
  }

  SECTION("delete is refused while a running job uses the package") {
    rest.Device(kPk, "fw-dev-1");
    auto job = rest.Call("POST", Upload("/" + id + "/jobs"), json{{"target", "all"}});
    REQUIRE(job.status == 201);
    CheckProblem(rest.Call("DELETE", Upload("/" + id)), 409);
    const std::string job_id = Json(job)["jobId"].get<std::string>();
    auto listed = rest.Call("GET", Upload("/" + id + "/jobs"));
    REQUIRE(listed.status == 200);
    REQUIRE(Json(listed)["items"].size() == 1);
    CHECK(Json(listed)["items"][0]["jobId"] == job_id);
    CHECK(Json(listed)["items"][0]["state"] == "running");
    CheckProblem(rest.Call("GET", "/products/fwOther02/firmwares/" + id + "/jobs"), 404);
    REQUIRE(rest.Call("POST", Upload("/" + id + "/jobs/" + job_id + ":cancel"), "").status == 200);
    CHECK(rest.Call("DELETE", Upload("/" + id)).status == 204);
  }

  SECTION("multipart/form-data: the file part streamed, the fields before it or in the query") {
    const std::string small = RandomBytes(300000, 3);
    auto part = [](const std::string& name, const std::string& value, const std::string& extra = "") {
      return "--b0uNd\r\nContent-Disposition: form-data; name=\"" + name + "\"" + extra + "\r\n\r\n" + value +
             "\r\n";
    };
    const std::string type = "multipart/form-data; boundary=b0uNd";
    auto form = Post(rest, "?module=ble",
                     part("version", "3.0.0") + part("extData", R"({"m":2})") +
                         part("file", small, "; filename=\"fw.bin\"") + "--b0uNd--\r\n",
                     type);
    INFO(form.body);
    REQUIRE(form.status == 201);
    json g = Json(form);
    CheckDigests(g, small);
    CHECK(g["version"] == "3.0.0");
    CHECK(g["module"] == "ble");
    CHECK(g["extData"] == json{{"m", 2}});
    // Refused: a field after the file, an unknown field, a field both ways, no version, no closing delimiter.
    CheckProblem(Post(rest, "", part("file", "x") + part("version", "3.0.1") + "--b0uNd--", type), 400);
    CheckProblem(
        Post(rest, "", part("version", "3.0.1") + part("colour", "red") + part("file", "x") + "--b0uNd--",
             type),
        400);
    CheckProblem(
        Post(rest, "?version=3.0.1", part("version", "3.0.1") + part("file", "x") + "--b0uNd--", type), 400);
    CheckProblem(Post(rest, "", part("file", "x") + "--b0uNd--", type), 400);
    CheckProblem(Post(rest, "", part("version", "3.0.1") + part("file", "x"), type), 400);
    auto list = rest.Call("GET", Upload(""));
    REQUIRE(list.status == 200);
    CHECK(Json(list)["items"].size() == 2);
  }

  SECTION("bad, hostile and missing query values: 400, wrong media type 415, roles and products") {
    for (const char* query :
         {"", "?version=", "?version=a%20b", "?version=a,b", "?version=%01", "?version=1&version=2",
          "?version=1&module=%0A", "?version=1&isDiff=maybe", "?version=1&extData=nope",
          "?version=1&extData=%5B1%5D", "?version=1&srcVersions=1,,2", "?version=1&srcVersions=,",
          "?version=1&module=" /* empty: default */ "&srcVersions=%20"}) {
      INFO(query);
      CheckProblem(Post(rest, query, "abc"), 400);
    }
    CheckProblem(Post(rest, "?version=" + std::string(65, 'v'), "abc"), 400);
    CheckProblem(Post(rest, "?version=1&module=" + std::string(65, 'm'), "abc"), 400);
    CheckProblem(Post(rest, "?version=9", "abc", "application/json"), 415);
    CheckProblem(Post(rest, "?version=9", "abc", "text/plain"), 415);
    CheckProblem(Post(rest, "?version=9", "abc", "multipart/form-data"), 400);              // no boundary
    CheckProblem(Post(rest, "?version=9", "abc", "multipart/form-data; boundary=x"), 400);  // no part
    CheckProblem(rest.Call("POST", "/products/nOSuchPk1/firmwares?version=9", std::string("abc"), kAdminToken,
                           "application/octet-stream"),
                 404);
    const std::string viewer = rest.Token("fw-viewer", "viewer");
    CheckProblem(Post(rest, "?version=9", "abc", "application/octet-stream", viewer), 403);
    CheckProblem(Post(rest, "?version=9", "abc", "application/octet-stream", "wrong-token"), 401);
    // Nothing was stored by any of them, and the API still answers.
    auto list = rest.Call("GET", Upload(""));
    REQUIRE(list.status == 200);
    CHECK(Json(list)["items"].size() == 1);
  }
}

TEST_CASE(
    "Firmware upload: the size limit refuses with 413 before and while the body arrives, a cut upload "
    "stores nothing",
    "[integration][ota][firmware]") {
  Rest rest(iot::api::itest::Env{{"IOT_FIRMWARE_MAX_BYTES", std::to_string(kLimit)}});
  rest.Product(kPk);
  const std::int64_t objects_before = Count(rest, "SELECT count(*) FROM pg_largeobject_metadata");

  {  // Content-Length over the limit: refused from the header alone
    iot::testing::RawConnection raw(rest.api.Port());
    REQUIRE(raw.Send(Head("?version=1", "Content-Length: " + std::to_string(kLimit + 1) + "\r\n")));
    CheckProblem(raw.ReadResponse(), 413);
    CHECK(raw.WaitForClose(5s));
  }
  {  // chunked, over the limit only as it arrives
    iot::testing::RawConnection raw(rest.api.Port());
    REQUIRE(raw.Send(Head("?version=2", "Transfer-Encoding: chunked\r\n")));
    const std::string piece = Chunked(std::string(1024 * 1024, 'z'), 1024 * 1024);
    const std::string one = piece.substr(0, piece.size() - 5);  // without the last chunk
    for (std::size_t sent = 0; sent <= kLimit && raw.Send(one); sent += 1024 * 1024) {
    }
    CheckProblem(raw.ReadResponse(), 413);
  }
  {  // exactly at the limit: stored
    const std::string bytes = RandomBytes(kLimit, 3);
    auto r = Post(rest, "?version=3", bytes);
    REQUIRE(r.status == 201);
    CheckDigests(Json(r), bytes);
  }
  {  // the client goes away mid-body: nothing is stored
    iot::testing::RawConnection raw(rest.api.Port());
    REQUIRE(raw.Send(Head("?version=4", "Content-Length: 1000000\r\n") + std::string(300000, 'c')));
  }
  REQUIRE(iot::testing::PollUntil(
      [&] { return Count(rest, "SELECT count(*) FROM pg_largeobject_metadata") == objects_before + 1; }, 10s,
      50ms));
  auto list = rest.Call("GET", Upload(""));
  REQUIRE(list.status == 200);
  REQUIRE(Json(list)["items"].size() == 1);
  CHECK(Json(list)["items"][0]["version"] == "3");
}

TEST_CASE("Firmware upload: a stalled body times out with 408 and stores nothing",
          "[integration][ota][firmware]") {
  Rest rest(iot::api::itest::Env{{"IOT_HTTP_READ_TIMEOUT_MS", "500"}});
  rest.Product(kPk);
  iot::testing::RawConnection raw(rest.api.Port());
  REQUIRE(raw.Send(Head("?version=1", "Content-Length: 1000\r\n") + std::string(10, 'c')));
  auto r = raw.ReadResponse(10s);
  INFO(r.body);
  CheckProblem(r, 408);
  // (a fresh connection: the client's kept one has been idle past the read timeout)
  auto list = iot::testing::HttpRequest(rest.api.Port(), "GET", "/api/v1" + Upload(""),
                                        {{"Authorization", "Bearer " + kAdminToken}});
  REQUIRE(list.status == 200);
  CHECK(Json(list)["items"].empty());
}

TEST_CASE("Firmware upload streams: a 48 MiB package does not grow iot-api's memory by its size",
          "[integration][ota][firmware]") {
  Rest rest(iot::api::itest::Env{{"IOT_FIRMWARE_MAX_BYTES", std::to_string(64 * 1024 * 1024)}});
  rest.Product(kPk);
  REQUIRE(rest.Call("GET", Upload("")).status == 200);
  const long peak_before = PeakKib(rest.api.Process().Pid());
  REQUIRE(peak_before > 0);

  constexpr std::size_t kSize = 48 * 1024 * 1024;
  iot::PackageDigest digest;
  iot::testing::RawConnection raw(rest.api.Port());
  REQUIRE(raw.Send(Head("?version=big", "Content-Length: " + std::to_string(kSize) + "\r\n")));
  std::mt19937 gen(7);
  std::string piece(1024 * 1024, '\0');
  for (std::size_t sent = 0; sent < kSize; sent += piece.size()) {
    for (char& c : piece) {
      c = static_cast<char>(gen() & 0xff);
    }
    digest.Update(piece);
    REQUIRE(raw.Send(piece));
  }
  auto r = raw.ReadResponse(60s);
  INFO(r.body);
  REQUIRE(r.status == 201);
  json f = Json(r);
  CHECK(f["size"] == kSize);
  CHECK(f["sha256"] == digest.Sha256Hex());
  CHECK(f["md5"] == digest.Md5Hex());
  const long peak_after = PeakKib(rest.api.Process().Pid());
  INFO("iot-api peak RSS " << peak_before << " KiB before, " << peak_after << " KiB after a 48 MiB upload");
  CHECK(peak_after - peak_before < 16 * 1024);
}

TEST_CASE("Firmware download: the signed link of a push, Range 206 and 416, forged 403, expired 410, counted",
          "[integration][ota][firmware]") {
  Rest rest(iot::api::itest::Env{{"IOT_PUBLIC_BASE_URL", "http://iot.test"}});
  rest.Product(kPk);
  const std::string bytes = RandomBytes(700001, 4);  // three pieces of 256 KiB
  auto up = Post(rest, "?version=5.0.0", bytes);
  REQUIRE(up.status == 201);
  const std::string id = Json(up)["id"].get<std::string>();
  auto key = iot::store::EnsureUrlSigningKey(rest.db, iot::store::kDownloadKeyName);
  REQUIRE(key.has_value());
  const std::int64_t now_s = iot::NowMs() / 1000;
  // What a push carries (catalog::OtaPackageFor): IOT_PUBLIC_BASE_URL + the signed path.
  const std::string pushed = iot::alink::FirmwareFileUrl("http://iot.test", *key, id, now_s);
  REQUIRE(pushed.rfind("http://iot.test/api/v1/files/firmware/" + id + "?", 0) == 0);
  const std::string link = pushed.substr(std::string("http://iot.test").size());

  iot::testing::HttpClient client(rest.api.Port());  // one keep-alive connection throughout
  auto whole = client.Request("GET", link);
  REQUIRE(whole.status == 200);
  CHECK(whole.body == bytes);
  CHECK(whole.Header("content-type") == "application/octet-stream");
  CHECK(whole.Header("accept-ranges") == "bytes");

  auto part = client.Request("GET", link, {{"Range", "bytes=100-199"}});
  REQUIRE(part.status == 206);
  CHECK(part.body == bytes.substr(100, 100));
  CHECK(part.Header("content-range") == "bytes 100-199/700001");

  // A download cut at 300,000 bytes resumes from there.
  auto rest_of = client.Request("GET", link, {{"Range", "bytes=300000-"}});
  REQUIRE(rest_of.status == 206);
  CHECK(bytes.substr(0, 300000) + rest_of.body == bytes);
  CHECK(rest_of.Header("content-range") == "bytes 300000-700000/700001");

  auto tail = client.Request("GET", link, {{"Range", "bytes=-10"}});
  REQUIRE(tail.status == 206);
  CHECK(tail.body == bytes.substr(700001 - 10));

  auto past = client.Request("GET", link, {{"Range", "bytes=700001-"}});
  CheckProblem(past, 416);
  CHECK(past.Header("content-range") == "bytes */700001");

  auto several = client.Request("GET", link, {{"Range", "bytes=0-1,5-6"}});  // ignored: the whole package
  REQUIRE(several.status == 200);
  CHECK(several.body == bytes);

  // Forged, moved to another firmware, missing: 403; correctly signed but expired: 410.
  std::string forged = link;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CheckProblem(client.Request("GET", forged), 403);
  const std::string other = std::string(32, 'b');
  CheckProblem(client.Request("GET", "/api/v1/files/firmware/" + other + link.substr(link.find('?'))), 403);
  CheckProblem(client.Request("GET", "/api/v1/files/firmware/" + id), 403);
  const std::string expired = iot::SignedUrl("", iot::alink::FirmwareFilePath(id), *key, now_s - 10);
  CheckProblem(client.Request("GET", expired), 410);

  // Counted: downloads that start at byte 0 on the firmware, every answer in /metrics.
  auto got = rest.Call("GET", Upload("/" + id));
  REQUIRE(got.status == 200);
  CHECK(Json(got)["downloads"] == 2);
  auto metrics = iot::testing::HttpRequest(rest.api.OpsPort(), "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(MetricValue(metrics.body, "iot_firmware_download_requests_total{status=\"206\"}") == 3);
  CHECK(MetricValue(metrics.body, "iot_firmware_download_requests_total{status=\"200\"}") == 2);
  CHECK(MetricValue(metrics.body, "iot_firmware_download_requests_total{status=\"416\"}") == 1);
  CHECK(MetricValue(metrics.body, "iot_firmware_download_requests_total{status=\"403\"}") == 3);

  // A task's link (what a push carries since migration 018): the task is signed with the path, counted on
  // the firmware (and on the task when one of its jobs has it: see itest_ota_fleet); another task is 403.
  const std::string task_link = iot::alink::FirmwareFileUrl("http://iot.test", *key, id, now_s, 77)
                                    .substr(std::string("http://iot.test").size());
  REQUIRE(task_link.find("?task=77&expires=") != std::string::npos);
  auto by_task = client.Request("GET", task_link, {{"Range", "bytes=0-9"}});
  REQUIRE(by_task.status == 206);
  CHECK(by_task.body == bytes.substr(0, 10));
  std::string other_task = task_link;
  other_task.replace(other_task.find("task=77"), 7, "task=78");
  CheckProblem(client.Request("GET", other_task), 403);
  CheckProblem(client.Request("GET", task_link + "&task=77"), 403);
  CHECK(Json(rest.Call("GET", Upload("/" + id)))["downloads"] == 3);

  // The contract lists these routes.
  auto doc = json::parse(client.Request("GET", "/api/v1/openapi.json").body, nullptr, false);
  REQUIRE(doc.is_object());
  for (const char* path : {"/products/{pk}/firmwares", "/products/{pk}/firmwares/{firmwareId}",
                           "/products/{pk}/firmwares/{firmwareId}/jobs", "/files/firmware/{firmwareId}"}) {
    INFO(path);
    CHECK(doc["paths"].contains(path));
  }

  // A deleted package's link is 404.
  REQUIRE(rest.Call("DELETE", Upload("/" + id)).status == 204);
  CheckProblem(client.Request("GET", link), 404);
}
