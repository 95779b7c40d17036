#include "app/store_authenticator.hpp"

#include <chrono>

#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/tokens.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.auth";

Role ToApiRole(store::Role role) {
  switch (role) {
    case store::Role::kAdmin: return Role::kAdmin;
    case store::Role::kOperator: return Role::kOperator;
    case store::Role::kViewer: return Role::kViewer;
  }
  return Role::kViewer;
}

}  // namespace

void StoreAuthenticator::Authenticate(std::string_view token, Done done) {
  auto shared_done = std::make_shared<Done>(std::move(done));
  const bool queued = pool_.Submit([token = std::string(token), shared_done](store::Db& db) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto principal = store::Authenticate(db, token, now);
    if (!principal) {
      if (!store::Is(principal.error(), store::Errc::kNotFound)) {
        IOT_LOG_WARN(kLog, "msg=\"token lookup failed\" error=" << log::Quote(principal.error().message()));
      }
      (*shared_done)(std::nullopt);
      return;
    }
    (*shared_done)(Principal{.name = principal->name, .role = ToApiRole(principal->role)});
  });
  if (!queued) {
    IOT_LOG_WARN(kLog, "msg=\"token lookup refused: DB pool queue full\"");
    (*shared_done)(std::nullopt);
  }
}

}  // namespace iot::api
