#pragma once

// The products' published models for the API's reads when device control does not run (no broker
// configured): a catalog::PublishedProducts kept current by the store's notifications on a LISTEN
// connection of its own, so a read neither re-reads nor re-parses the thing model. With device control
// running, its own cache (kept current the same way) serves the reads instead.

#include <atomic>
#include <thread>

#include "iot/catalog/published_products.hpp"
#include "iot/store/db.hpp"

namespace iot::api {

class ModelWatcher final {
 public:
  explicit ModelWatcher(store::DbSettings db) : db_(std::move(db)) {}
  ~ModelWatcher();  // Stop()
  ModelWatcher(const ModelWatcher&) = delete;
  ModelWatcher& operator=(const ModelWatcher&) = delete;

  catalog::PublishedProducts& Products() { return products_; }
  void Start();
  void Stop();

 private:
  void Loop();

  store::DbSettings db_;
  catalog::PublishedProducts products_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace iot::api
