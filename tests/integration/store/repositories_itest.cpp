#include <thread>

#include "iot/store/audit.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/pool.hpp"
#include "iot/store/products.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/store/tokens.hpp"
#include "iot/testing/env.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;

TEST_CASE("Tokens: create, authenticate, expiry, list, revoke", "[store][tokens]") {
  Fixture f;
  auto created = CreateToken(f.db, TokenCreate{"ops 'quoted'", Role::kOperator, std::nullopt});
  REQUIRE(created.has_value());
  CHECK(created->token.size() > 40);
  auto p = Authenticate(f.db, created->token, 0);
  REQUIRE(p.has_value());
  CHECK(p->name == "ops 'quoted'");
  CHECK(p->role == Role::kOperator);
  CHECK(Is(Authenticate(f.db, "nope", 0).error(), Errc::kNotFound));

  auto expiring = CreateToken(f.db, TokenCreate{"tmp", Role::kViewer, 1000});
  REQUIRE(expiring.has_value());
  CHECK(Authenticate(f.db, expiring->token, 999).has_value());
  CHECK(Is(Authenticate(f.db, expiring->token, 1000).error(), Errc::kNotFound));

  auto page = ListTokens(f.db, PageQuery{1, ""});
  REQUIRE(page.has_value());
  REQUIRE(page->items.size() == 1);
  REQUIRE(page->next_cursor);
  auto page2 = ListTokens(f.db, PageQuery{10, *page->next_cursor});
  REQUIRE(page2->items.size() == 1);
  CHECK(!page2->next_cursor);

  REQUIRE(RevokeToken(f.db, created->info.id).has_value());
  CHECK(Is(Authenticate(f.db, created->token, 0).error(), Errc::kNotFound));
  CHECK(Is(RevokeToken(f.db, 424242).error(), Errc::kNotFound));

  auto boot = EnsureToken(f.db, "bootstrap-secret", "admin", Role::kAdmin);
  REQUIRE(boot.has_value());
  REQUIRE(EnsureToken(f.db, "bootstrap-secret", "admin", Role::kAdmin).has_value());
  CHECK(Authenticate(f.db, "bootstrap-secret", 0)->role == Role::kAdmin);
  // Once revoked, the bootstrap token stays revoked when it is ensured again (at every start).
  REQUIRE(RevokeToken(f.db, boot->id).has_value());
  auto again = EnsureToken(f.db, "bootstrap-secret", "admin", Role::kAdmin);
  REQUIRE(again.has_value());
  CHECK(again->revoked);
  CHECK(Is(Authenticate(f.db, "bootstrap-secret", 0).error(), Errc::kNotFound));
  CHECK(TokenHash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("Audit: append and page by time", "[store][audit]") {
  Fixture f;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(AppendAudit(f.db, AuditRecord{"admin", "product.create", "pk" + std::to_string(i),
                                          R"({"n":)" + std::to_string(i) + "}"})
                .has_value());
  }
  CHECK(Is(AppendAudit(f.db, AuditRecord{"a", "b", "c", "not json"}).error(), Errc::kInvalid));
  std::vector<std::string> targets;
  TimeQuery q;
  q.limit = 2;
  while (true) {
    auto page = ListAudit(f.db, q);
    REQUIRE(page.has_value());
    for (auto& e : page->items) {
      targets.push_back(e.target);
    }
    if (!page->next_cursor) {
      break;
    }
    q.cursor = *page->next_cursor;
  }
  CHECK(targets == std::vector<std::string>{"pk4", "pk3", "pk2", "pk1", "pk0"});
}

TEST_CASE("Products: create, conflict, get, list, patch, delete", "[store][products]") {
  Fixture f;
  auto gen = CreateProduct(f.db, ProductCreate{.name = "Generated"});
  REQUIRE(gen.has_value());
  CHECK(gen->product_key.size() == 11);
  CHECK(gen->validation == ValidationMode::kWeak);
  CHECK(gen->retention_days == 30);
  CHECK(!gen->thing_model_version);

  auto p = CreateProduct(
      f.db, ProductCreate{
                .product_key = "a1", .name = "x'; DROP TABLE products;--", .node_type = NodeType::kGateway});
  REQUIRE(p.has_value());
  CHECK(p->name == "x'; DROP TABLE products;--");
  CHECK(Is(CreateProduct(f.db, ProductCreate{.product_key = "a1", .name = "dup"}).error(), Errc::kConflict));
  CHECK(Is(CreateProduct(f.db, ProductCreate{.product_key = "a2", .name = "n", .retention_days = 0}).error(),
           Errc::kInvalid));
  CHECK(Is(GetProduct(f.db, "missing").error(), Errc::kNotFound));

  auto page = ListProducts(f.db, PageQuery{1, ""});
  REQUIRE(page->items.size() == 1);
  auto page2 = ListProducts(f.db, PageQuery{1, *page->next_cursor});
  REQUIRE(page2->items.size() == 1);
  CHECK(page2->items[0].product_key != page->items[0].product_key);
  CHECK(Is(ListProducts(f.db, PageQuery{1001, ""}).error(), Errc::kInvalid));

  auto patched =
      PatchProduct(f.db, "a1", ProductPatch{.validation = ValidationMode::kStrict, .retention_days = 7});
  REQUIRE(patched.has_value());
  CHECK(patched->validation == ValidationMode::kStrict);
  CHECK(patched->retention_days == 7);
  CHECK(patched->name == "x'; DROP TABLE products;--");
  CHECK(Is(PatchProduct(f.db, "zz", ProductPatch{}).error(), Errc::kNotFound));

  REQUIRE(CreateDevice(f.db, "a1", DeviceCreate{}).has_value());
  CHECK(GetProduct(f.db, "a1")->device_count == 1);
  CHECK(Is(DeleteProduct(f.db, "a1").error(), Errc::kConflict));
  REQUIRE(DeleteProduct(f.db, gen->product_key).has_value());
  CHECK(Is(DeleteProduct(f.db, gen->product_key).error(), Errc::kNotFound));
}

TEST_CASE("Thing models: drafts, publish versions, published model", "[store][thing_models]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  CHECK(Is(PutThingModelDraft(f.db, "none", "", "{}").error(), Errc::kNotFound));
  CHECK(Is(PublishThingModel(f.db, "pk", "{}", "").error(), Errc::kInvalid));  // no draft
  REQUIRE(PutThingModelDraft(f.db, "pk", "", R"({"properties":[{"identifier":"T"}]})").has_value());
  REQUIRE(PutThingModelDraft(f.db, "pk", "fb1", R"({"events":[]})").has_value());
  CHECK(Is(PutThingModelDraft(f.db, "pk", "", "{bad").error(), Errc::kInvalid));
  CHECK(GetThingModelDraft(f.db, "pk", "fb1").has_value());
  CHECK(Is(GetThingModelDraft(f.db, "pk", "fb2").error(), Errc::kNotFound));
  CHECK(ListThingModelDrafts(f.db, "pk")->size() == 2);

  auto before = GetPublishedModel(f.db, "pk");
  REQUIRE(before.has_value());
  CHECK(!before->version);
  CHECK(Is(GetThingModelVersion(f.db, "pk", std::nullopt).error(), Errc::kNotFound));

  auto v1 = PublishThingModel(f.db, "pk", R"({"combined":1})", "first");
  REQUIRE(v1.has_value());
  CHECK(v1->version == 1);
  auto v2 = PublishThingModel(f.db, "pk", R"({"combined":2})", "second");
  CHECK(v2->version == 2);
  auto latest = GetThingModelVersion(f.db, "pk", std::nullopt);
  REQUIRE(latest.has_value());
  CHECK(latest->info.version == 2);
  CHECK(latest->tsl_json == R"({"combined": 2})");
  CHECK(latest->modules_json.find("fb1") != std::string::npos);
  CHECK(GetThingModelVersion(f.db, "pk", 1)->info.description == "first");
  CHECK(Is(GetThingModelVersion(f.db, "pk", 3).error(), Errc::kNotFound));
  auto versions = ListThingModelVersions(f.db, "pk");
  REQUIRE(versions->size() == 2);
  CHECK(versions->front().version == 2);
  auto pub = GetPublishedModel(f.db, "pk");
  CHECK(pub->version == 2);
  CHECK(pub->validation == ValidationMode::kWeak);
  CHECK(GetProduct(f.db, "pk")->thing_model_version == 2);
}

TEST_CASE("Devices: create, batch all-or-nothing, get, patch, lookup, delete", "[store][devices]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  auto d = CreateDevice(f.db, "pk", DeviceCreate{"dev-1", "Kitchen"});
  REQUIRE(d.has_value());
  CHECK(d->secret.size() == 32);
  CHECK(d->status == DeviceStatus::kUnactive);
  CHECK(Is(CreateDevice(f.db, "pk", DeviceCreate{"dev-1", ""}).error(), Errc::kConflict));
  CHECK(Is(CreateDevice(f.db, "nope", DeviceCreate{}).error(), Errc::kNotFound));
  CHECK(CreateDevice(f.db, "pk", DeviceCreate{})->device_name.size() == 16);

  std::vector<DeviceCreate> batch(3);
  batch[1].device_name = "dev-1";  // conflicts: nothing is created
  CHECK(Is(CreateDevices(f.db, "pk", batch).error(), Errc::kConflict));
  CHECK(ListDevices(f.db, "pk", DeviceFilter{})->items.size() == 2);
  batch[1].device_name = "dev-2";
  auto created = CreateDevices(f.db, "pk", batch);
  REQUIRE(created.has_value());
  CHECK(created->size() == 3);
  CHECK((*created)[1].device_name == "dev-2");
  CHECK(Is(CreateDevices(f.db, "pk", std::vector<DeviceCreate>(1001)).error(), Errc::kInvalid));

  auto patched = PatchDevice(f.db, "pk", "dev-1", DevicePatch{.enabled = false});
  REQUIRE(patched.has_value());
  CHECK(!patched->enabled);
  CHECK(patched->nickname == "Kitchen");
  auto info = LookupDevice(f.db, "pk", "dev-1");
  REQUIRE(info.has_value());
  CHECK(info->device_id == d->id);
  CHECK(info->secret == d->secret);
  CHECK(!info->enabled);
  CHECK(info->validation == ValidationMode::kWeak);
  CHECK(Is(LookupDevice(f.db, "pk", "dev-9").error(), Errc::kNotFound));

  REQUIRE(UpdateDeviceTags(f.db, d->id, {{"room", "kitchen"}, {"floor", "1"}}).has_value());
  REQUIRE(DeleteDeviceTags(f.db, d->id, {"floor"}).has_value());
  auto got = GetDevice(f.db, "pk", "dev-1");
  CHECK(got->tags == std::map<std::string, std::string>{{"room", "kitchen"}});

  REQUIRE(DeleteDevice(f.db, "pk", "dev-1").has_value());
  CHECK(Is(GetDevice(f.db, "pk", "dev-1").error(), Errc::kNotFound));
  CHECK(Is(DeleteDevice(f.db, "pk", "dev-1").error(), Errc::kNotFound));
}

TEST_CASE("Devices: list filters with hostile search strings and paging", "[store][devices]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  const std::vector<std::pair<std::string, std::string>> devs = {
      {"plain", "Living room"}, {"pct", "100% done"},    {"under", "a_b"},
      {"back", R"(c:\path)"},   {"quote", "it's \"q\""}, {"uni", "Küche 温度"}};
  for (const auto& [name, nick] : devs) {
    REQUIRE(CreateDevice(f.db, "pk", DeviceCreate{name, nick}).has_value());
  }
  auto count = [&](DeviceFilter filter) {
    filter.page.limit = 100;
    auto r = ListDevices(f.db, "pk", filter);
    REQUIRE(r.has_value());
    return r->items.size();
  };
  CHECK(count(DeviceFilter{.search = "%"}) == 1);
  CHECK(count(DeviceFilter{.search = "_"}) == 1);
  CHECK(count(DeviceFilter{.search = "\\"}) == 1);
  CHECK(count(DeviceFilter{.search = "'"}) == 1);
  CHECK(count(DeviceFilter{.search = "KÜCHE"}) == 1);
  CHECK(count(DeviceFilter{.search = "温度"}) == 1);
  CHECK(count(DeviceFilter{.search = "LIVING"}) == 1);
  CHECK(count(DeviceFilter{.search = "PCT"}) == 1);
  CHECK(count(DeviceFilter{.search = "zzz"}) == 0);
  CHECK(count(DeviceFilter{.status = DeviceStatusFilter::kUnactive}) == 6);
  CHECK(count(DeviceFilter{.status = DeviceStatusFilter::kOnline}) == 0);

  auto plain = LookupDevice(f.db, "pk", "plain").value();
  REQUIRE(UpdateDeviceTags(f.db, plain.device_id, {{"k'%", "v_\\"}}).has_value());
  CHECK(count(DeviceFilter{.tag = std::make_pair(std::string("k'%"), std::string("v_\\"))}) == 1);
  CHECK(count(DeviceFilter{.tag = std::make_pair(std::string("k'%"), std::string("v"))}) == 0);

  // Paging while rows are added: no device is seen twice, the ones present at the start are all seen.
  std::set<std::string> seen;
  DeviceFilter filter;
  filter.page.limit = 2;
  int added = 0;
  while (true) {
    auto page = ListDevices(f.db, "pk", filter);
    REQUIRE(page.has_value());
    for (auto& d : page->items) {
      CHECK(seen.insert(d.device_name).second);
    }
    if (added < 3) {
      REQUIRE(CreateDevice(f.db, "pk", DeviceCreate{"new" + std::to_string(added++), ""}).has_value());
    }
    if (!page->next_cursor) {
      break;
    }
    filter.page.cursor = *page->next_cursor;
  }
  for (const auto& [name, nick] : devs) {
    CHECK(seen.count(name) == 1);
  }
  CHECK(Is(ListDevices(f.db, "pk", DeviceFilter{.page = {10, "garbage"}}).error(), Errc::kInvalid));
}

TEST_CASE("Devices: lifecycle applies only newer sequence numbers", "[store][devices]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  auto d = CreateDevice(f.db, "pk", DeviceCreate{"d1", ""}).value();
  auto on = ApplyLifecycle(f.db, LifecycleEvent{d.id, true, 1000, 10, "10.0.0.1"});
  REQUIRE(on.has_value());
  CHECK(on->applied);
  CHECK(on->first_activation);
  CHECK(on->status == DeviceStatus::kOnline);
  auto stale = ApplyLifecycle(f.db, LifecycleEvent{d.id, false, 900, 9, ""});
  CHECK(!stale->applied);
  CHECK(stale->status == DeviceStatus::kOnline);
  auto off = ApplyLifecycle(f.db, LifecycleEvent{d.id, false, 2000, 11, ""});
  CHECK(off->applied);
  auto again = ApplyLifecycle(f.db, LifecycleEvent{d.id, true, 3000, 12, "10.0.0.2"});
  CHECK(!again->first_activation);
  auto got = GetDevice(f.db, "pk", "d1").value();
  CHECK(got.activated_at == 1000);
  CHECK(got.last_online_at == 3000);
  CHECK(got.last_offline_at == 2000);
  CHECK(got.ip_address == "10.0.0.2");
  CHECK(Is(ApplyLifecycle(f.db, LifecycleEvent{999999, true, 1, 1, ""}).error(), Errc::kNotFound));
  CHECK(MarkAllOffline(f.db, 4000).value() == 1);
}

TEST_CASE("Devices: many lifecycle events in one transaction, in order", "[store][devices]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  auto a = CreateDevice(f.db, "pk", DeviceCreate{"a1", ""}).value();
  auto b = CreateDevice(f.db, "pk", DeviceCreate{"b1", ""}).value();
  const std::vector<LifecycleEvent> events{
      {a.id, true, 1000, 1, "10.0.0.1"},  // a online (first activation)
      {b.id, true, 1100, 1, ""},          // b online
      {999999, true, 1, 1, ""},           // deleted meanwhile: skipped, the rest still applied
      {a.id, false, 1200, 2, ""},         // a offline
      {b.id, false, 1050, 0, ""},         // stale for b: ignored
      {a.id, true, 1300, 3, "10.0.0.3"},  // a online again
  };
  auto r = ApplyLifecycles(f.db, events);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == events.size());
  CHECK(((*r)[0].applied && (*r)[0].first_activation));
  CHECK(((*r)[1].applied && (*r)[1].first_activation));
  CHECK((!(*r)[2].found && !(*r)[2].applied));
  CHECK(((*r)[3].applied && (*r)[3].status == DeviceStatus::kOffline));
  CHECK((!(*r)[4].applied && (*r)[4].status == DeviceStatus::kOnline));
  CHECK(((*r)[5].applied && !(*r)[5].first_activation));
  auto got_a = GetDevice(f.db, "pk", "a1").value();
  CHECK(got_a.status == DeviceStatus::kOnline);
  CHECK(got_a.activated_at == 1000);
  CHECK(got_a.last_offline_at == 1200);
  CHECK(got_a.last_online_at == 1300);
  CHECK(got_a.ip_address == "10.0.0.3");
  CHECK(GetDevice(f.db, "pk", "b1").value().status == DeviceStatus::kOnline);
  CHECK(ApplyLifecycles(f.db, std::vector<LifecycleEvent>{}).value().empty());
}

TEST_CASE("DbPool: runs tasks on worker connections, bounded queue refuses", "[store][pool]") {
  iot::testing::PgDatabase pg;
  REQUIRE(Migrator(pg.Dsn()).Migrate().has_value());
  DbPool pool(PoolSettings{.db = DbSettings{.dsn = pg.Dsn()}, .threads = 2, .queue_capacity = 4});
  std::atomic<int> done{0};
  std::atomic<bool> release{false};
  // Block both workers, then fill the queue.
  for (int i = 0; i < 2; ++i) {
    REQUIRE(pool.Submit([&](Db& db) {
      CHECK(db.Ping().has_value());
      while (!release) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ++done;
    }));
  }
  REQUIRE(iot::testing::PollUntil([&] { return pool.Stats().busy == 2; }));
  for (int i = 0; i < 4; ++i) {
    REQUIRE(pool.Submit([&](Db&) { ++done; }));
  }
  CHECK(!pool.Submit([&](Db&) { ++done; }));
  auto stats = pool.Stats();
  CHECK(stats.queue_depth == 4);
  CHECK(stats.rejected == 1);
  CHECK(stats.connected == 2);
  release = true;
  REQUIRE(iot::testing::PollUntil([&] { return done == 6; }));
  pool.Stop();
  CHECK(!pool.Submit([](Db&) {}));
}
