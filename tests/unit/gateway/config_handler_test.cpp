#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"
#include "iot/common/signed_url.hpp"

using iot::gateway::HandleStatus;
using iot::gateway::Work;
using iot::gateway::testing::kNow;
using nlohmann::json;
namespace t = iot::gateway::testing;

namespace {

const std::string kGet = "/sys/a1Prod/dev1/thing/config/get";
const std::string kGetBody =
    R"({"id":"1|exp-topic|/sys/a1Prod/dev1/thing/config/get_reply","version":"1.0",)"
    R"("params":{"configScope":"product","getType":"file"},"method":"thing.config.get"})";
const std::string kId = "0123456789abcdef0123456789abcdef";

// The reference product with the switch and, when `with_file`, a current configuration file.
struct Fixture : t::HandlerFixture {
  Fixture(bool remote_config, bool with_file) : HandlerFixture(t::LinkSettings()) {
    auto& p = source.products["a1Prod"];
    p.remote_config = remote_config;
    if (with_file) {
      iot::store::ProductConfigInfo info;
      info.config_id = kId;
      info.product_key = "a1Prod";
      info.version = 3;
      info.size = 16;
      info.sha256 = std::string(64, 'c');
      p.config = info;
    }
  }
};

}  // namespace

TEST_CASE("Config get: switched off answers 6713, no file 6710, bad params 460", "[gateway][config]") {
  Work off = Fixture(false, true).Run(kGet, kGetBody);
  REQUIRE(off.reply);
  CHECK(off.reply->code == 6713);
  CHECK(off.reply->topic == kGet + "_reply");
  CHECK(off.reply->id == "1|exp-topic|/sys/a1Prod/dev1/thing/config/get_reply");

  Work none = Fixture(true, false).Run(kGet, kGetBody);
  CHECK(none.reply->code == 6710);

  Work scope =
      Fixture(true, true).Run(kGet, R"({"id":"2","params":{"configScope":"device","getType":"file"}})");
  CHECK(scope.reply->code == 460);
}

TEST_CASE("Config get answers the current file's id, size, sign and a signed link", "[gateway][config]") {
  Fixture f(true, true);
  Work w = f.Run(kGet, kGetBody);
  REQUIRE(w.reply);
  CHECK(w.reply->code == 200);
  CHECK(w.reply->method == "thing.config.get");
  const json& d = w.reply->data;
  CHECK(d["configId"] == kId);
  CHECK(d["configSize"] == 16);
  CHECK(d["sign"] == std::string(64, 'c'));
  CHECK(d["signMethod"] == "Sha256");
  CHECK(d["getType"] == "file");
  const std::string url = d["url"].get<std::string>();
  const std::string path = "/api/v1/files/config/" + kId;
  REQUIRE(url.rfind("https://iot.example:8443" + path + "?expires=", 0) == 0);
  // The link verifies with the key the directory gave, for an hour from the message's time.
  const auto q = url.find("?expires=") + 9;
  const auto amp = url.find("&signature=");
  const std::string expires = url.substr(q, amp - q);
  const std::string signature = url.substr(amp + 11);
  CHECK(std::stoll(expires) == kNow / 1000 + 3600);
  CHECK(iot::VerifyUrl(f.source.url_key, path, expires, signature, kNow / 1000) == iot::UrlCheck::kValid);
  CHECK(iot::VerifyUrl("another key", path, expires, signature, kNow / 1000) == iot::UrlCheck::kBadSignature);
}

TEST_CASE("Config get: the signing key is loaded once, retried while the database is away",
          "[gateway][config]") {
  SECTION("kept after the first load") {
    Fixture f(true, true);
    f.Run(kGet, kGetBody);  // device, product and key now cached
    f.source.unavailable = true;
    Work w = f.Run(kGet, kGetBody);
    CHECK(w.reply->code == 200);
  }
  SECTION("away before the first load") {
    Fixture f(true, true);
    f.Run("/sys/a1Prod/dev1/thing/dsltemplate/get", R"({"id":"3","params":{}})");  // caches dev1, a1Prod
    f.source.unavailable = true;
    f.Run(kGet, kGetBody, HandleStatus::kRetry);
  }
}

TEST_CASE("Config push replies are counted and need no answer", "[gateway][config]") {
  Fixture f(true, true);
  Work w = f.Run("/sys/a1Prod/dev1/thing/config/push_reply", R"({"id":"7","code":200,"data":{}})",
                 HandleStatus::kIgnore);
  CHECK_FALSE(w.reply);
  CHECK(f.metrics.config_push_replies.Get("200") == 1);
}
