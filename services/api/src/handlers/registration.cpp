// POST /auth/register/device: one-product-one-secret dynamic registration (pre-registration) as
// Alibaba's iot-auth answers it: a form-encoded request signed with the ProductSecret, HTTP 200 with an
// Alink `code` in the JSON body for every outcome (the Link SDKs read `code`; a 4xx would make their
// HTTP clients fail with another shape). Unauthenticated; rate limited per product; audited.
#include "iot/store/registration.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "handlers/common.hpp"
#include "iot/alink/credentials.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/log.hpp"
#include "iot/common/rate_limiter.hpp"
#include "iot/store/audit.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.registration";
constexpr int kProductNotFound = 6250;
constexpr int kRegistrationOff = 6288;
constexpr int kAlreadyActivated = 6289;
constexpr int kSignatureFailed = 6600;
constexpr std::size_t kMaxBodyBytes = 4096;

Response AlinkAnswer(int code, std::string_view message, nlohmann::json data = nlohmann::json::object()) {
  Response response = JsonOk(200, {{"code", code}, {"data", std::move(data)}, {"message", message}});
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

// application/x-www-form-urlencoded; nullopt on a malformed escape. Later duplicates are ignored.
std::optional<std::map<std::string, std::string>> ParseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!key || !value) {
      return std::nullopt;
    }
    out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

bool IsRandomText(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

struct ProductLimiter {
  std::mutex mutex;
  DeviceRateLimiter limiter;
  explicit ProductLimiter(double rate) : limiter(rate, 10000) {}
  bool Allow(const std::string& pk) {
    std::lock_guard lock(mutex);
    return limiter.Allow(pk, NowMs());
  }
};

void AuditRegistration(store::Db& db, const Request& request, const std::string& pk, const std::string& dn,
                       int code) {
  store::AuditRecord record;
  record.actor = "device-registration";
  record.action = "device.register";
  record.target = pk + "/" + dn;
  record.detail_json = nlohmann::json{{"code", code}, {"remote", request.remote_address}}.dump();
  if (auto appended = store::AppendAudit(db, record); !appended) {
    IOT_LOG_ERROR(kLog, "msg=\"audit record lost\" target=" << log::Quote(record.target));
  }
}

// POST /auth/register/device: Alink dynamic registration (a form body, answered in Alink's JSON).
void RegisterDevice(store::DbPool& pool, ProductLimiter& limiter, Request&& request, Respond respond) {
  if (request.body.size() > kMaxBodyBytes) {
    respond(AlinkAnswer(codes::kParamError, "request body too large"));
    return;
  }
  auto form = ParseForm(request.body);
  if (!form) {
    respond(AlinkAnswer(codes::kParamError, "malformed form body"));
    return;
  }
  auto field = [&](const char* name) -> std::string {
    auto it = form->find(name);
    return it == form->end() ? std::string() : it->second;
  };
  const std::string pk = field("productKey");
  const std::string dn = field("deviceName");
  const std::string random = field("random");
  const std::string sign = field("sign");
  const std::string method_name = field("signMethod");
  if (!IsValidProductKey(pk) || !IsValidDeviceName(dn) || !IsRandomText(random) || sign.empty() ||
      sign.size() > 128) {
    respond(AlinkAnswer(codes::kParamError,
                        "productKey, deviceName, random (1-64 letters, digits, -_.) and sign are required"));
    return;
  }
  auto method = alink::ParseSignMethod(method_name.empty() ? "hmacsha1" : method_name);
  if (!method) {
    respond(
        AlinkAnswer(codes::kSignMethodNotSupported, "signMethod must be hmacmd5, hmacsha1 or hmacsha256"));
    return;
  }
  if (!limiter.Allow(pk)) {
    Response busy =
        AlinkAnswer(codes::kTooManyRequests, "too many registrations for this product, retry later");
    busy.headers.emplace_back("Retry-After", "1");
    respond(std::move(busy));
    return;
  }
  RunOnDb(pool, respond,
          [request = std::move(request), pk, dn, random, sign, method = *method](store::Db& db) {
            auto state = store::LookupRegistration(db, pk, dn);
            if (!state && state.error() == store::Errc::kNotFound) {
              return AlinkAnswer(kProductNotFound, "product not found");
            }
            if (!state) {
              return AlinkAnswer(codes::kSystemError, "system error, retry later");
            }
            int code = codes::kSuccess;
            std::string message = "success";
            // The signature is checked with the product's secret before anything about the device is used, so
            // a wrong signature answers the same whether the device exists or not.
            if (!state->dynamic_registration) {
              code = kRegistrationOff;
              message = "dynamic registration is switched off for this product";
            } else if (!alink::VerifyRegisterSign(method, state->product_secret, dn, pk, random, sign)) {
              code = kSignatureFailed;
              message = "signature check failed";
            } else if (!state->device_exists) {
              code = codes::kDeviceNotFound;
              message = "device not found: pre-register it first";
            } else if (!state->enabled) {
              code = codes::kDeviceDisabled;
              message = "device disabled";
            } else if (!state->registrable) {
              code = kAlreadyActivated;
              message = "device already activated: an operator must reset its registration";
            }
            if (code != kRegistrationOff) {
              AuditRegistration(db, request, pk, dn, code);
            }
            if (code != codes::kSuccess) {
              return AlinkAnswer(code, message);
            }
            return AlinkAnswer(code, message,
                               {{"productKey", pk},
                                {"deviceName", dn},
                                {"deviceSecret", state->device_secret},
                                {"iotId", state->iot_id}});
          });
}

}  // namespace

void AddRegistrationRoutes(Router& router, HandlerContext& context) {
  // The one route keeps its own state (registrations per product), so it is no table row.
  auto limiter = std::make_shared<ProductLimiter>(context.registration_rate);
  router.Add("POST", "/auth/register/device", RouteOptions{.min_role = std::nullopt},
             [&pool = context.pool, limiter](Request&& request, Respond respond) {
               RegisterDevice(pool, *limiter, std::move(request), std::move(respond));
             });
}

}  // namespace iot::api
