#include "iot/store/db.hpp"

#include "connection.hpp"

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

}  // namespace iot::store
