// OTA repositories against the real PostgreSQL: firmware bytes in large objects (streamed in, read by
// range, unlinked on delete), module versions, jobs and the task state machine.

#include <algorithm>
#include <map>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "iot/common/digest.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/products.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kT0;

namespace {

// A package of `size` pseudo-random bytes handed out in pieces of at most `piece` bytes.
struct Package {
  std::string bytes;
  std::size_t at = 0;
  std::size_t piece;
  Package(std::size_t size, std::size_t piece_bytes) : piece(piece_bytes) {
    std::uint32_t x = 12345;
    for (std::size_t i = 0; i < size; ++i) {
      x = x * 1103515245 + 12345;
      bytes.push_back(static_cast<char>(x >> 16));
    }
  }
  ChunkSource Source() {
    return [this](char* buffer, std::size_t capacity) -> iot::Result<std::size_t> {
      const std::size_t n = std::min({capacity, piece, bytes.size() - at});
      std::copy_n(bytes.data() + at, n, buffer);
      at += n;
      return n;
    };
  }
};

std::int64_t Count(Fixture& f, const std::string& sql) {
  pqxx::connection c(f.pg.Dsn());
  pqxx::read_transaction tx(c);
  return tx.exec(sql)[0][0].as<std::int64_t>();
}

// What the job driver (iot-api) does to tasks, written directly.
void Sql(Fixture& f, const std::string& sql) {
  pqxx::connection c(f.pg.Dsn());
  pqxx::work tx(c);
  tx.exec(sql);
  tx.commit();
}

struct OtaFixture : Fixture {
  OtaFixture() {
    REQUIRE(CreateProduct(db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
    for (int i = 1; i <= 5; ++i) {
      auto d = CreateDevice(db, "pk", DeviceCreate{"dev-" + std::to_string(i), ""});
      REQUIRE(d.has_value());
      ids[d->device_name] = d->id;
    }
  }
  FirmwareInfo Firmware(const std::string& version, const std::string& module = "default",
                        std::vector<std::string> src = {}) {
    Package p(1000, 1000);
    FirmwareCreate create{.product_key = "pk", .module = module, .version = version, .src_versions = src};
    auto f = CreateFirmware(db, create, 1 << 20, p.Source());
    REQUIRE(f.has_value());
    return *f;
  }
  std::int64_t Tasks(const OtaJob& job, const std::string& state) {
    for (const auto& [name, count] : job.counts) {
      if (name == state) {
        return count;
      }
    }
    FAIL("no count for " << state);
    return -1;
  }
  std::map<std::string, std::int64_t> ids;
};

}  // namespace

TEST_CASE(
    "Firmware: streamed into a large object with size, MD5 and SHA-256, read by range, unlinked on delete",
    "[integration][store][ota]") {
  OtaFixture f;
  Package p(700000, 100000);  // several pieces, more than one upload chunk
  FirmwareCreate create{.product_key = "pk",
                        .module = "MCU",
                        .version = "1.0.1",
                        .src_versions = {"1.0.0"},
                        .is_diff = true,
                        .ext_data_json = std::string(R"({"key":"v"})"),
                        .created_by = "admin"};
  auto info = CreateFirmware(f.db, create, 1 << 20, p.Source());
  REQUIRE(info.has_value());
  iot::PackageDigest digest;
  digest.Update(p.bytes);
  CHECK(info->size == 700000);
  CHECK(info->md5 == digest.Md5Hex());
  CHECK(info->sha256 == digest.Sha256Hex());
  CHECK(info->firmware_id.size() == 32);
  CHECK(info->module == "MCU");
  CHECK(info->src_versions == std::vector<std::string>{"1.0.0"});
  CHECK(info->is_diff);
  REQUIRE(info->ext_data_json);
  CHECK(nlohmann::json::parse(*info->ext_data_json) == nlohmann::json{{"key", "v"}});
  CHECK(info->created_by == "admin");

  // Ranges: the middle, the end (short), past the end (empty), whole.
  auto middle = ReadFirmwareRange(f.db, info->firmware_id, 123456, 1000);
  REQUIRE(middle.has_value());
  CHECK(*middle == p.bytes.substr(123456, 1000));
  CHECK(*ReadFirmwareRange(f.db, info->firmware_id, 699990, 100) == p.bytes.substr(699990));
  CHECK(ReadFirmwareRange(f.db, info->firmware_id, 800000, 100)->empty());
  CHECK(*ReadFirmwareRange(f.db, info->firmware_id, 0, 700000) == p.bytes);
  CHECK(Is(ReadFirmwareRange(f.db, std::string(32, 'f'), 0, 10).error(), Errc::kNotFound));
  CHECK(Is(ReadFirmwareRange(f.db, info->firmware_id, -1, 10).error(), Errc::kInvalid));

  // Counted downloads; reads by product.
  REQUIRE(CountFirmwareDownload(f.db, info->firmware_id).has_value());
  REQUIRE(CountFirmwareDownload(f.db, info->firmware_id).has_value());
  CHECK(GetFirmware(f.db, "pk", info->firmware_id)->downloads == 2);
  CHECK(Is(GetFirmware(f.db, "other", info->firmware_id).error(), Errc::kNotFound));
  CHECK(ListFirmwares(f.db, "pk")->size() == 1);
  CHECK(Is(ListFirmwares(f.db, "nope").error(), Errc::kNotFound));

  // The same module's version again: conflict, and nothing left behind (one large object).
  Package again(10, 10);
  CHECK(Is(CreateFirmware(f.db, create, 1 << 20, again.Source()).error(), Errc::kConflict));
  CHECK(Count(f, "SELECT count(*) FROM pg_largeobject_metadata") == 1);

  // Over the limit, a failing source, bad fields, an unknown product: refused, nothing stored.
  Package big(5000, 1000);
  create.version = "2.0.0";
  CHECK(Is(CreateFirmware(f.db, create, 4999, big.Source()).error(), Errc::kInvalid));
  ChunkSource failing = [](char*, std::size_t) -> iot::Result<std::size_t> {
    return make_error_code(Errc::kUnavailable);
  };
  CHECK(Is(CreateFirmware(f.db, create, 1 << 20, failing).error(), Errc::kUnavailable));
  Package small(10, 10);
  FirmwareCreate bad = create;
  bad.module = "";
  CHECK(Is(CreateFirmware(f.db, bad, 1 << 20, small.Source()).error(), Errc::kInvalid));
  bad = create;
  bad.ext_data_json = "[1]";
  CHECK(Is(CreateFirmware(f.db, bad, 1 << 20, small.Source()).error(), Errc::kInvalid));
  bad = create;
  bad.product_key = "nope";
  CHECK(Is(CreateFirmware(f.db, bad, 1 << 20, small.Source()).error(), Errc::kNotFound));
  CHECK(Count(f, "SELECT count(*) FROM pg_largeobject_metadata") == 1);
  CHECK(Count(f, "SELECT count(*) FROM firmwares") == 1);

  // Delete: the bytes go with the row.
  CHECK(Is(DeleteFirmware(f.db, "other", info->firmware_id).error(), Errc::kNotFound));
  REQUIRE(DeleteFirmware(f.db, "pk", info->firmware_id).has_value());
  CHECK(Count(f, "SELECT count(*) FROM pg_largeobject_metadata") == 0);
  CHECK(Is(GetFirmwareById(f.db, info->firmware_id).error(), Errc::kNotFound));
}

TEST_CASE("Jobs: targets, source versions, one active task per device and module, counts, pages",
          "[integration][store][ota]") {
  OtaFixture f;
  REQUIRE(InformDeviceModule(f.db, f.ids["dev-1"], "default", "1.0.0", kT0).has_value());
  REQUIRE(InformDeviceModule(f.db, f.ids["dev-2"], "default", "0.9.0", kT0).has_value());
  REQUIRE(UpdateDeviceTags(f.db, f.ids["dev-3"], {{"ring", "canary"}}).has_value());
  REQUIRE(UpdateDeviceTags(f.db, f.ids["dev-4"], {{"ring", "canary"}}).has_value());

  auto fw = f.Firmware("1.1.0", "default", {"1.0.0"});
  OtaJobCreate create{.product_key = "pk", .firmware_id = fw.firmware_id, .created_by = "admin"};
  auto job = CreateOtaJob(f.db, create);
  REQUIRE(job.has_value());
  CHECK(job->version == "1.1.0");
  CHECK(job->module == "default");
  CHECK(job->state == "running");
  CHECK(f.Tasks(*job, "queued") == 1);  // only dev-1 runs a source version
  auto tasks = ListOtaTasks(f.db, "pk", job->job_id, PageQuery{});
  REQUIRE(tasks.has_value());
  REQUIRE(tasks->items.size() == 1);
  CHECK(tasks->items[0].device_name == "dev-1");
  CHECK(tasks->items[0].src_version == "1.0.0");

  // A device upgrading the module in one job gets no second task for it.
  auto any = f.Firmware("1.2.0");
  create.firmware_id = any.firmware_id;
  auto all = CreateOtaJob(f.db, create);
  REQUIRE(all.has_value());
  CHECK(f.Tasks(*all, "queued") == 4);
  CHECK(GetOtaJob(f.db, "pk", all->job_id)->counts == all->counts);

  // Another module: independent.
  auto mcu = f.Firmware("3.0", "MCU");
  create.firmware_id = mcu.firmware_id;
  create.target = OtaTarget::kTag;
  create.tag_key = "ring";
  create.tag_value = "canary";
  auto tagged = CreateOtaJob(f.db, create);
  REQUIRE(tagged.has_value());
  CHECK(f.Tasks(*tagged, "queued") == 2);

  auto mcu2 = f.Firmware("3.1", "MCU");
  create.firmware_id = mcu2.firmware_id;
  create.target = OtaTarget::kList;
  create.device_names = {"dev-3", "dev-5", "not-there"};
  auto listed = CreateOtaJob(f.db, create);
  REQUIRE(listed.has_value());
  CHECK(f.Tasks(*listed, "queued") == 1);  // dev-3 is busy with MCU 3.0, dev-5 is not
  CHECK(ListOtaTasks(f.db, "pk", listed->job_id, PageQuery{})->items.at(0).device_name == "dev-5");

  // Pages of tasks.
  auto first = ListOtaTasks(f.db, "pk", all->job_id, PageQuery{.limit = 3});
  REQUIRE(first.has_value());
  CHECK(first->items.size() == 3);
  REQUIRE(first->next_cursor);
  auto second = ListOtaTasks(f.db, "pk", all->job_id, PageQuery{.limit = 3, .cursor = *first->next_cursor});
  REQUIRE(second.has_value());
  CHECK(second->items.size() == 1);
  CHECK_FALSE(second->next_cursor);
  CHECK(Is(ListOtaTasks(f.db, "pk", all->job_id, PageQuery{.cursor = "x"}).error(), Errc::kInvalid));
  CHECK(Is(ListOtaTasks(f.db, "other", all->job_id, PageQuery{}).error(), Errc::kNotFound));

  // Refusals.
  create.device_names.clear();
  CHECK(Is(CreateOtaJob(f.db, create).error(), Errc::kInvalid));  // a list with no names
  create.target = OtaTarget::kAll;
  create.max_concurrent = 0;
  CHECK(Is(CreateOtaJob(f.db, create).error(), Errc::kInvalid));
  create.max_concurrent = 5;
  create.firmware_id = std::string(32, '0');
  CHECK(Is(CreateOtaJob(f.db, create).error(), Errc::kNotFound));
  create.firmware_id = fw.firmware_id;
  create.product_key = "other";
  CHECK(Is(CreateOtaJob(f.db, create).error(), Errc::kNotFound));
  CHECK(Is(GetOtaJob(f.db, "other", all->job_id).error(), Errc::kNotFound));

  // A firmware a running job uses cannot be deleted.
  CHECK(Is(DeleteFirmware(f.db, "pk", any.firmware_id).error(), Errc::kConflict));
}

TEST_CASE("Tasks: progress, failure with and without retries, success on the informed target version",
          "[integration][store][ota]") {
  OtaFixture f;
  auto fw = f.Firmware("2.0.0", "MCU");
  auto job = CreateOtaJob(f.db, OtaJobCreate{.product_key = "pk",
                                             .firmware_id = fw.firmware_id,
                                             .target = OtaTarget::kList,
                                             .device_names = {"dev-1", "dev-2"},
                                             .retries = 1});
  REQUIRE(job.has_value());
  const auto d1 = f.ids["dev-1"];
  const auto d2 = f.ids["dev-2"];
  // A push: pushed, one attempt more.
  Sql(f, "UPDATE ota_tasks SET state = 'pushed', attempts = attempts + 1");

  // The device asks for its package: the pushed task's firmware.
  auto pending = FindPendingUpgrade(f.db, d1, "MCU");
  REQUIRE(pending.has_value());
  REQUIRE(pending->has_value());
  CHECK((*pending)->firmware.firmware_id == fw.firmware_id);
  CHECK((*pending)->job_id == job->job_id);
  CHECK_FALSE(FindPendingUpgrade(f.db, d1, "default")->has_value());
  CHECK_FALSE(FindPendingUpgrade(f.db, f.ids["dev-3"], "MCU")->has_value());

  // Progress: downloading with the step.
  auto p = ApplyOtaProgress(f.db, d1, "MCU", 40, "", kT0);
  REQUIRE(p.has_value());
  REQUIRE(p->has_value());
  CHECK((*p)->state == "downloading");
  CHECK(ListOtaTasks(f.db, "pk", job->job_id, PageQuery{})->items.at(0).step == 40);
  CHECK(Is(ApplyOtaProgress(f.db, d1, "MCU", 0, "", kT0).error(), Errc::kInvalid));
  CHECK(Is(ApplyOtaProgress(f.db, d1, "MCU", -5, "", kT0).error(), Errc::kInvalid));
  CHECK(Is(ApplyOtaProgress(f.db, d1, "MCU", 101, "", kT0).error(), Errc::kInvalid));
  CHECK_FALSE(ApplyOtaProgress(f.db, d1, "other", 10, "", kT0)->has_value());  // no task for that module

  // A failure with a retry left queues the task again; with none left it fails, keeping step and desc.
  auto retry = ApplyOtaProgress(f.db, d2, "MCU", -3, "verify failed", kT0);
  REQUIRE(retry.has_value());
  CHECK((*retry)->state == "queued");
  CHECK_FALSE(FindPendingUpgrade(f.db, d2, "MCU")->has_value());  // queued: not its turn yet
  Sql(f, "UPDATE ota_tasks SET state = 'pushed', attempts = attempts + 1 WHERE state = 'queued'");
  auto failed = ApplyOtaProgress(f.db, d2, "MCU", -2, std::string(5000, 'x'), kT0);
  REQUIRE(failed.has_value());
  CHECK((*failed)->state == "failed");
  auto rows = ListOtaTasks(f.db, "pk", job->job_id, PageQuery{});
  REQUIRE(rows->items.size() == 2);
  CHECK(rows->items[1].step == -2);
  CHECK(rows->items[1].desc.size() == kMaxOtaDescBytes);
  CHECK(rows->items[1].attempts == 2);
  CHECK_FALSE(ApplyOtaProgress(f.db, d2, "MCU", 50, "", kT0)->has_value());  // ended: untouched

  // Informing another version changes the module only; the target version completes the task.
  auto other = InformDeviceModule(f.db, d1, "MCU", "1.9.0", kT0);
  REQUIRE(other.has_value());
  CHECK_FALSE(other->has_value());
  auto done = InformDeviceModule(f.db, d1, "MCU", "2.0.0", kT0 + 1000);
  REQUIRE(done.has_value());
  REQUIRE(done->has_value());
  CHECK((*done)->state == "succeeded");
  CHECK((*done)->job_id == job->job_id);
  auto modules = ListDeviceModules(f.db, d1);
  REQUIRE(modules.has_value());
  REQUIRE(modules->size() == 1);
  CHECK(modules->at(0).module == "MCU");
  CHECK(modules->at(0).version == "2.0.0");
  CHECK(modules->at(0).updated_at == kT0 + 1000);
  auto counts = GetOtaJob(f.db, "pk", job->job_id);
  CHECK(f.Tasks(*counts, "succeeded") == 1);
  CHECK(f.Tasks(*counts, "failed") == 1);
  auto history = ListDeviceOtaTasks(f.db, d1, 10);
  REQUIRE(history.has_value());
  REQUIRE(history->size() == 1);
  CHECK(history->at(0).version == "2.0.0");
  CHECK(history->at(0).task.state == "succeeded");
  CHECK(history->at(0).task.step == 100);

  // Bad input; a deleted device.
  CHECK(Is(InformDeviceModule(f.db, d1, "", "1", kT0).error(), Errc::kInvalid));
  CHECK(Is(InformDeviceModule(f.db, d1, "MCU", std::string(65, 'v'), kT0).error(), Errc::kInvalid));
  CHECK(Is(InformDeviceModule(f.db, 999999, "MCU", "1", kT0).error(), Errc::kNotFound));
}
