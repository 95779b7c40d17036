#include "iot/store/tokens.hpp"

#include <openssl/sha.h>

#include "connection.hpp"
#include "iot/common/hex.hpp"

namespace iot::store {
namespace {

const Statement kInsert{"token_insert",
                        "INSERT INTO api_tokens (token_hash, name, role, expires_at) "
                        "VALUES ($1, $2, $3, iot_ts($4)) "
                        "RETURNING id, name, role, iot_ms(created_at), iot_ms(expires_at), revoked"};
const Statement kEnsure{"token_ensure",
                        "INSERT INTO api_tokens (token_hash, name, role) VALUES ($1, $2, $3) "
                        "ON CONFLICT (token_hash) DO UPDATE SET name = excluded.name, "
                        "role = excluded.role, expires_at = NULL "
                        "RETURNING id, name, role, iot_ms(created_at), iot_ms(expires_at), revoked"};
const Statement kList{"token_list",
                      "SELECT id, name, role, iot_ms(created_at), iot_ms(expires_at), revoked "
                      "FROM api_tokens WHERE id < $1 ORDER BY id DESC LIMIT $2"};
const Statement kRevoke{"token_revoke", "UPDATE api_tokens SET revoked = true WHERE id = $1"};
const Statement kAuth{"token_auth",
                      "SELECT id, name, role, iot_ms(expires_at) FROM api_tokens "
                      "WHERE token_hash = $1 AND NOT revoked "
                      "AND (expires_at IS NULL OR expires_at > iot_ts($2))"};

const Statement kActiveIds{"token_active_ids",
                           "SELECT id FROM api_tokens WHERE id = ANY($1::bigint[]) AND NOT revoked "
                           "AND (expires_at IS NULL OR expires_at > iot_ts($2))"};

TokenInfo ReadToken(const pqxx::row& r) {
  TokenInfo t;
  t.id = r[0].as<std::int64_t>();
  t.name = r[1].as<std::string>();
  Parse(r[2].as<std::string>(), t.role);
  t.created_at = r[3].as<TimeMs>();
  t.expires_at = Opt<TimeMs>(r[4]);
  t.revoked = r[5].as<bool>();
  return t;
}

}  // namespace

std::string TokenHash(std::string_view clear_token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(clear_token.data()), clear_token.size(), digest);
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH));
}

Result<CreatedToken> CreateToken(Db& db, const TokenCreate& request) {
  return Run(db, [&](pqxx::connection& c) -> Result<CreatedToken> {
    CreatedToken out;
    out.token = "iot_" + RandomAlnum(43);
    pqxx::work tx(c);
    auto r =
        Exec(tx, kInsert, TokenHash(out.token), request.name, S(ToString(request.role)), request.expires_at);
    tx.commit();
    out.info = ReadToken(r[0]);
    return out;
  });
}

Result<TokenInfo> EnsureToken(Db& db, std::string_view clear_token, std::string_view name, Role role) {
  return Run(db, [&](pqxx::connection& c) -> Result<TokenInfo> {
    pqxx::work tx(c);
    auto r = Exec(tx, kEnsure, TokenHash(clear_token), S(name), S(ToString(role)));
    tx.commit();
    return ReadToken(r[0]);
  });
}

Result<Page<TokenInfo>> ListTokens(Db& db, const PageQuery& page) {
  std::int64_t after = INT64_MAX;
  if (!ValidLimit(page.limit) || (!page.cursor.empty() && !ParseIdCursor(page.cursor, after))) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<TokenInfo>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kList, after, page.limit + 1);
    Page<TokenInfo> out;
    for (const auto& row : r) {
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next_cursor = std::to_string(out.items.back().id);
        break;
      }
      out.items.push_back(ReadToken(row));
    }
    return out;
  });
}

Result<void> RevokeToken(Db& db, std::int64_t token_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    auto r = Exec(tx, kRevoke, token_id);
    tx.commit();
    if (r.affected_rows() == 0) {
      return make_error_code(Errc::kNotFound);
    }
    return {};
  });
}

Result<std::vector<std::int64_t>> ActiveTokenIds(Db& db, const std::vector<std::int64_t>& token_ids,
                                                 TimeMs now) {
  std::string array = "{";  // integers only: a PostgreSQL array literal bound as one parameter
  for (const auto id : token_ids) {
    array += (array.size() > 1 ? "," : "") + std::to_string(id);
  }
  array += "}";
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<std::int64_t>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kActiveIds, array, now);
    std::vector<std::int64_t> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(row[0].as<std::int64_t>());
    }
    return out;
  });
}

Result<Principal> Authenticate(Db& db, std::string_view clear_token, TimeMs now) {
  return Run(db, [&](pqxx::connection& c) -> Result<Principal> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kAuth, TokenHash(clear_token), now);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    Principal p;
    p.token_id = r[0][0].as<std::int64_t>();
    p.name = r[0][1].as<std::string>();
    Parse(r[0][2].as<std::string>(), p.role);
    p.expires_at = Opt<TimeMs>(r[0][3]);
    return p;
  });
}

}  // namespace iot::store
