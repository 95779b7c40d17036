// /api/v1/tokens: create (the clear token is answered once), list (no values), revoke.
#include "iot/store/tokens.hpp"

#include <charconv>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kCursorKind = "tokens";

nlohmann::json TokenJson(const store::TokenInfo& info) {
  return {{"id", std::to_string(info.id)},
          {"name", info.name},
          {"role", store::ToString(info.role)},
          {"createdAt", info.created_at},
          {"expiresAt", TimeOrNull(info.expires_at)}};
}

const BodySchema& CreateSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Required("name", FieldType::kString, {.min = 1, .max = 64})
          .Required("role", FieldType::kString, {.one_of = {"admin", "operator", "viewer"}})
          .Optional("expiresAt", FieldType::kInteger, {.nullable = true, .min = 0});
  return kSchema;
}

void CreateToken(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  nlohmann::json body = ParseJsonBody(request, CreateSchema());
  store::TokenCreate create;
  create.name = body["name"].get<std::string>();
  store::Parse(body["role"].get<std::string>(), create.role);
  if (auto it = body.find("expiresAt"); it != body.end()) {
    if (!it->is_null()) {
      create.expires_at = it->get<std::int64_t>();
    }  // an explicit null: never expires
  } else if (context.default_token_ttl_ms > 0) {
    create.expires_at = NowMs() + context.default_token_ttl_ms;
  }
  RunOnDb(pool, respond, [request = std::move(request), create](store::Db& db) {
    store::CreatedToken created = Unwrap(store::CreateToken(db, create));
    Audit(db, request, "token.create", std::to_string(created.info.id),
          {{"name", created.info.name}, {"role", store::ToString(created.info.role)}});
    nlohmann::json out = TokenJson(created.info);
    out["token"] = created.token;
    Response response = JsonOk(201, out);
    response.headers.emplace_back("Location", "/api/v1/tokens/" + std::to_string(created.info.id));
    return response;
  });
}

void ListTokens(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  ListParams params = ParseListParams(request);
  store::PageQuery page{.limit = params.limit, .cursor = UnwrapCursor(kCursorKind, params.cursor)};
  RunOnDb(pool, respond, [page](store::Db& db) {
    auto tokens = Unwrap(store::ListTokens(db, page));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& token : tokens.items) {
      if (!token.revoked) {
        items.push_back(TokenJson(token));
      }
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kCursorKind, tokens.next_cursor)));
  });
}

void RevokeToken(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  const std::string& text = request.Param("tokenId");
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    throw ApiError::NotFound("no such token: " + text);
  }
  RunOnDb(pool, respond, [&context, request = std::move(request), id](store::Db& db) {
    Unwrap(store::RevokeToken(db, id), "no such token: " + std::to_string(id));
    if (context.token_revoked) {
      context.token_revoked(id);  // effective here before the answer; NOTIFY tells the others
    }
    Audit(db, request, "token.revoke", std::to_string(id));
    Response response;
    response.status = 204;
    response.content_type.clear();
    return response;
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/tokens", kAdmin, CreateToken},
    {"GET", "/api/v1/tokens", kAdmin, ListTokens},
    {"DELETE", "/api/v1/tokens/{tokenId}", kAdmin, RevokeToken},
};

}  // namespace

void AddTokenRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api
