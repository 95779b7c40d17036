#include "registration.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"

using iot::broker::CheckRegistration;
using iot::broker::DeviceDirectory;
using iot::broker::DeviceRecord;

namespace {

const std::string kProductSecret = "ProductSecret123";

std::string Password(const std::string& dn, const std::string& random,
                     const std::string& secret = kProductSecret) {
  return iot::alink::Sign(iot::alink::SignMethod::kHmacSha256, secret,
                          iot::alink::RegisterSignContent(dn, "a1RegPk0001", random));
}

std::string ClientId(const std::string& random) {
  return "dev01|securemode=2,authType=register,random=" + random + ",signmethod=hmacsha256|";
}

// Puts dev01 into `directory` (a DeviceDirectory owns a mutex: filled in place).
void Fill(DeviceDirectory& directory, bool registrable, bool dynamic = true, bool enabled = true) {
  directory.Upsert(
      "a1RegPk0001", "dev01",
      DeviceRecord{"0123456789abcdef0123456789abcdef", enabled, 0, kProductSecret, dynamic, registrable});
}

}  // namespace

TEST_CASE("Registration: authType=register marks a registration clientId", "[broker][register]") {
  CHECK(iot::broker::IsRegistrationClientId(ClientId("r1")));
  CHECK(iot::broker::IsRegistrationClientId("x|securemode=-2,authType=regnwl,random=1|"));
  CHECK_FALSE(iot::broker::IsRegistrationClientId("x|securemode=2,authType=connwl|"));
  CHECK_FALSE(iot::broker::IsRegistrationClientId("x|securemode=3,signmethod=hmacsha1,myauthType=register|"));
  CHECK_FALSE(iot::broker::IsRegistrationClientId("authType=register"));
  CHECK_FALSE(iot::broker::IsRegistrationClientId("pk.dn|securemode=3,signmethod=hmacsha256|"));
}

TEST_CASE("Registration: a signed registration of a registrable device gets its secret",
          "[broker][register]") {
  DeviceDirectory directory;
  Fill(directory, true);
  const std::string password = Password("dev01", "r4nd");
  auto ok = CheckRegistration(directory, ClientId("r4nd"), "dev01&a1RegPk0001", password.c_str());
  REQUIRE(ok);
  REQUIRE(ok->allowed);
  auto payload = nlohmann::json::parse(ok->payload);
  CHECK(payload["deviceSecret"] == "0123456789abcdef0123456789abcdef");
  CHECK(payload["productKey"] == "a1RegPk0001");
  CHECK(payload["deviceName"] == "dev01");

  CHECK_FALSE(CheckRegistration(directory, "pk.dn|securemode=3|", "dev01&a1RegPk0001", password.c_str()));
  // Wrong random / secret, unknown device: refused alike.
  CHECK_FALSE(
      CheckRegistration(directory, ClientId("other"), "dev01&a1RegPk0001", password.c_str())->allowed);
  const std::string wrong = Password("dev01", "r4nd", "AnotherSecret123");
  CHECK_FALSE(CheckRegistration(directory, ClientId("r4nd"), "dev01&a1RegPk0001", wrong.c_str())->allowed);
  const std::string other = Password("dev02", "r4nd");
  CHECK_FALSE(CheckRegistration(directory, ClientId("r4nd"), "dev02&a1RegPk0001", other.c_str())->allowed);
  CHECK_FALSE(CheckRegistration(directory, ClientId("r4nd"), "dev01&a1RegPk0001", nullptr)->allowed);
  CHECK_FALSE(CheckRegistration(directory, "dev01|securemode=2,authType=register,signmethod=hmacsha256|",
                                "dev01&a1RegPk0001", password.c_str())
                  ->allowed);  // no random
  CHECK_FALSE(CheckRegistration(directory,
                                "dev01|securemode=-2,authType=regnwl,random=r4nd,signmethod=hmacsha256|",
                                "dev01&a1RegPk0001", password.c_str())
                  ->allowed);  // no pre-registration: not supported
}

TEST_CASE("Registration: switched off, disabled or activated devices are refused", "[broker][register]") {
  const std::string password = Password("dev01", "r4nd");
  DeviceDirectory activated_before;
  Fill(activated_before, false);
  CHECK_FALSE(
      CheckRegistration(activated_before, ClientId("r4nd"), "dev01&a1RegPk0001", password.c_str())->allowed);
  DeviceDirectory switched_off;
  Fill(switched_off, true, false);
  CHECK_FALSE(
      CheckRegistration(switched_off, ClientId("r4nd"), "dev01&a1RegPk0001", password.c_str())->allowed);
  DeviceDirectory disabled;
  Fill(disabled, true, true, false);
  CHECK_FALSE(CheckRegistration(disabled, ClientId("r4nd"), "dev01&a1RegPk0001", password.c_str())->allowed);
  DeviceDirectory directory;
  Fill(directory, true);
  CHECK(CheckRegistration(directory, ClientId("r4nd"), "dev01&a1RegPk0001", password.c_str())->allowed);
  directory.MarkActivated("a1RegPk0001", "dev01");
  CHECK_FALSE(CheckRegistration(directory, ClientId("r4nd"), "dev01&a1RegPk0001", password.c_str())->allowed);
}

TEST_CASE("Registration: the secret is pushed after CONNACK and the session ends after 15 s",
          "[broker][register]") {
  iot::broker::PendingRegistrations pending;
  pending.Add("c1", "{}", 1000);
  CHECK(pending.Take(1050).push.empty());
  auto due = pending.Take(1100);
  REQUIRE(due.push.size() == 1);
  CHECK(due.push[0].first == "c1");
  CHECK(pending.Take(2000).push.empty());  // once
  CHECK(pending.Take(15999).kick.empty());
  CHECK(pending.Take(16000).kick == std::vector<std::string>{"c1"});
  CHECK(pending.Size() == 0);
  pending.Add("c2", "{}", 0);
  pending.Remove("c2");
  CHECK(pending.Take(100000).kick.empty());
}
