#include "iot/store/db.hpp"

#include "connection.hpp"
#include "iot/store/statements.hpp"

namespace iot::store {

Db::Db(DbSettings settings)
    : settings_(std::move(settings)), conn_(std::make_unique<detail::Connection>(settings_)) {}

Db::~Db() = default;

Result<void> Db::Connect(bool force) { return conn_->Ensure(force); }

bool Db::IsConnected() const { return conn_->IsOpen(); }

Result<void> Db::Ping() {
  return Run(*this, [](pqxx::connection& c) -> Result<void> {
    pqxx::nontransaction tx(c);
    tx.exec("SELECT 1");
    return {};
  });
}

void Db::Disconnect() { conn_->MarkBroken(); }

namespace {
thread_local std::uint64_t statements_on_thread = 0;
}  // namespace

void detail::CountStatement() { ++statements_on_thread; }

std::uint64_t StatementsOnThisThread() { return statements_on_thread; }

}  // namespace iot::store
