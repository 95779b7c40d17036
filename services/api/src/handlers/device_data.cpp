// Device data reads: latest properties, property history and aggregates, events, service-call
// records, rejections. Names and data types come from the newest published thing model.
#include "iot/store/device_data.hpp"

#include <charconv>
#include <set>

#include "control/control_service.hpp"
#include "handlers/common.hpp"
#include "iot/catalog/published_products.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/thing_models.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kHistoryKind = "history";
constexpr std::string_view kEventsKind = "events";
constexpr std::string_view kCallsKind = "service-calls";
constexpr std::string_view kRejectionsKind = "rejections";
constexpr std::string_view kFleetLatestKind = "fleet-latest";
constexpr int kDefaultFleetLatestLimit = 1000;
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
constexpr std::size_t kMaxIdentifierBytes = 128;

// The product's newest published model: names and data types of what devices posted. Null when
// nothing is published, the product is gone or the model does not parse. From the cache device control
// keeps current by notification when it runs, else loaded for this request.
std::shared_ptr<const tsl::ThingModel> PublishedModel(catalog::PublishedProducts* products, store::Db& db,
                                                      const std::string& pk) {
  auto found = products ? products->Find(db, pk) : catalog::LoadPublished(db, pk);
  if (!found) {
    if (found.error() == store::Errc::kNotFound) {
      return nullptr;
    }
    throw StoreError(found.error(), {});
  }
  return (*found)->model;
}

const tsl::Property* FindProperty(const tsl::ThingModel* model, const std::string& id) {
  return model ? model->FindProperty(id) : nullptr;
}

catalog::PublishedProducts* ProductsOf(HandlerContext& context) {
  if (context.products != nullptr) {
    return context.products;
  }
  return context.control ? &context.control->Products() : nullptr;
}

std::int64_t ResolveDevice(store::Db& db, const std::string& pk, const std::string& dn) {
  return Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn).id;
}

// Optional string filter of bounded length (identifiers, types).
std::optional<std::string> FilterParam(const Request& request, std::string_view name,
                                       std::vector<ErrorItem>& problems) {
  auto value = request.Query(name);
  if (!value) {
    return std::nullopt;
  }
  if (value->empty() || value->size() > kMaxIdentifierBytes) {
    problems.push_back({"", 0,
                        "query parameter " + std::string(name) + " must be 1 to " +
                            std::to_string(kMaxIdentifierBytes) + " bytes"});
  }
  return std::string(*value);
}

void ThrowIfProblems(std::vector<ErrorItem>& problems) {
  if (!problems.empty()) {
    std::string detail = problems.size() == 1 ? problems.front().message
                                              : std::to_string(problems.size()) + " invalid query parameters";
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
}

// "1m", "5m", "1h", "1d", "30s", ... -> milliseconds; nullopt when malformed.
std::optional<std::int64_t> ParseInterval(std::string_view text) {
  if (text.size() < 2 || text.size() > 10) {
    return std::nullopt;
  }
  std::int64_t count = 0;
  const char* end = text.data() + text.size() - 1;
  auto [ptr, ec] = std::from_chars(text.data(), end, count);
  if (ec != std::errc() || ptr != end || count <= 0) {
    return std::nullopt;
  }
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1000; break;
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = kDayMs; break;
    default: return std::nullopt;
  }
  if (count > 366LL * kDayMs / unit) {
    return std::nullopt;
  }
  return count * unit;
}

const std::set<std::string, std::less<>>& AggregateColumns() {
  static const std::set<std::string, std::less<>> kColumns = {"avg", "min", "max", "count", "first", "last"};
  return kColumns;
}

bool IsNumericType(tsl::DataKind kind) {
  return kind == tsl::DataKind::kInt || kind == tsl::DataKind::kFloat || kind == tsl::DataKind::kDouble;
}

const std::string& IdentifierParam(const Request& request) {
  const std::string& id = request.Param("id");
  if (id.size() > kMaxIdentifierBytes) {
    throw ApiError::NotFound("no such property: " + id.substr(0, kMaxIdentifierBytes));
  }
  return id;
}

void ListProperties(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(pool, respond, [pk, dn, products = ProductsOf(context)](store::Db& db) {
    // One round trip for the device and its values; the model from the cache (no query when cached).
    auto latest = Unwrap(store::GetLatestPropertiesOf(db, pk, dn), "no such device: " + pk + "/" + dn);
    const auto model = PublishedModel(products, db, pk);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& p : latest) {
      const tsl::Property* property = FindProperty(model.get(), p.identifier);
      items.push_back({{"identifier", p.identifier},
                       {"name", property ? nlohmann::json(property->name) : nlohmann::json(nullptr)},
                       {"dataType", property ? nlohmann::json(tsl::KindName(property->data_type.kind))
                                             : nlohmann::json(nullptr)},
                       {"value", JsonValue(p.value_json)},
                       {"time", p.time}});
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

// One property's newest value for every device of a product (dashboards, maps): larger pages than other
// lists (up to 10,000 devices in one answer), paged by device name.
void ListFleetLatest(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string id = IdentifierParam(request);
  store::PageQuery page{.limit = kDefaultFleetLatestLimit, .cursor = {}};
  if (auto limit = QueryInt(request, "limit")) {
    if (*limit < 1 || *limit > store::kMaxFleetLatestLimit) {
      throw ApiError::BadRequest("query parameter limit must be between 1 and " +
                                 std::to_string(store::kMaxFleetLatestLimit));
    }
    page.limit = static_cast<int>(*limit);
  }
  if (auto cursor = request.Query("cursor"); cursor && !cursor->empty()) {
    page.cursor = UnwrapCursor(kFleetLatestKind, std::string(*cursor));
  }
  RunOnDb(pool, respond, [pk, id, page](store::Db& db) {
    auto values = Unwrap(store::ListLatestOfProperty(db, pk, id, page), "no such product: " + pk);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& v : values.items) {
      items.push_back({{"deviceName", v.device_name}, {"value", JsonValue(v.value_json)}, {"time", v.time}});
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kFleetLatestKind, values.next_cursor)));
  });
}

void GetPropertyHistory(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::string id = IdentifierParam(request);
  store::TimeQuery query = ToTimeQuery(ParseListParams(request, true), kHistoryKind);
  RunOnDb(pool, respond, [pk, dn, id, query](store::Db& db) {
    const std::int64_t device_id = ResolveDevice(db, pk, dn);
    auto page = Unwrap(store::ListPropertyHistory(db, device_id, id, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& s : page.items) {
      items.push_back({{"value", JsonValue(s.value_json)}, {"time", s.time}});
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kHistoryKind, page.next_cursor)));
  });
}

void GetPropertyAggregate(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::string id = IdentifierParam(request);
  std::vector<ErrorItem> problems;
  std::optional<std::int64_t> from, to;
  try {
    from = QueryInt(request, "from");
  } catch (const ApiError& e) {
    problems.insert(problems.end(), e.errors.begin(), e.errors.end());
  }
  try {
    to = QueryInt(request, "to");
  } catch (const ApiError& e) {
    problems.insert(problems.end(), e.errors.begin(), e.errors.end());
  }
  store::AggregateQuery query;
  auto interval_text = request.Query("interval");
  if (!interval_text) {
    problems.push_back({"", 0, "query parameter interval is required (1m, 5m, 1h, 1d, ...)"});
  } else if (auto interval = ParseInterval(*interval_text)) {
    query.interval_ms = *interval;
  } else {
    problems.push_back(
        {"", 0,
         "query parameter interval must be a positive number followed by s, m, h or d (at most 366d)"});
  }
  std::set<std::string, std::less<>> columns;
  if (auto fn = request.Query("fn")) {
    std::string_view rest = *fn;
    while (true) {
      const auto comma = rest.find(',');
      std::string_view name = rest.substr(0, comma);
      if (!AggregateColumns().contains(name)) {
        problems.push_back({"", 0,
                            "query parameter fn: unknown function \"" + std::string(name) +
                                "\" (avg, min, max, count, first, last)"});
      } else {
        columns.emplace(name);
      }
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
  } else {
    columns = AggregateColumns();
  }
  query.to = to.value_or(NowMs());
  query.from = from.value_or(query.to - kDayMs);
  if (query.from > query.to) {
    problems.push_back({"", 0, "query parameter from must not be after to"});
  } else if (query.interval_ms > 0 && (query.to - query.from) / query.interval_ms > 100000) {
    problems.push_back({"", 0, "more than 100000 buckets: use a larger interval or a shorter range"});
  }
  ThrowIfProblems(problems);
  RunOnDb(pool, respond, [pk, dn, id, query, columns, products = ProductsOf(context)](store::Db& db) {
    const std::int64_t device_id = ResolveDevice(db, pk, dn);
    const auto model = PublishedModel(products, db, pk);
    if (const tsl::Property* property = FindProperty(model.get(), id);
        property && !IsNumericType(property->data_type.kind)) {
      throw ApiError::BadRequest("property " + id + " has data type " +
                                 std::string(tsl::KindName(property->data_type.kind)) +
                                 ": only int, float and double properties can be aggregated");
    }
    auto buckets = Unwrap(store::AggregateProperty(db, device_id, id, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& b : buckets) {
      nlohmann::json item = {{"time", b.time}};
      if (columns.contains("avg")) {
        item["avg"] = b.avg;
      }
      if (columns.contains("min")) {
        item["min"] = b.min;
      }
      if (columns.contains("max")) {
        item["max"] = b.max;
      }
      if (columns.contains("count")) {
        item["count"] = b.count;
      }
      if (columns.contains("first")) {
        item["first"] = b.first;
      }
      if (columns.contains("last")) {
        item["last"] = b.last;
      }
      items.push_back(std::move(item));
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

void ListEvents(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::vector<ErrorItem> problems;
  store::EventFilter filter;
  filter.identifier = FilterParam(request, "identifier", problems);
  filter.type = FilterParam(request, "type", problems);
  if (filter.type && *filter.type != "info" && *filter.type != "alert" && *filter.type != "error") {
    problems.push_back({"", 0, "query parameter type must be info, alert or error"});
  }
  ThrowIfProblems(problems);
  store::TimeQuery query = ToTimeQuery(ParseListParams(request, true), kEventsKind);
  RunOnDb(pool, respond, [pk, dn, filter, query, products = ProductsOf(context)](store::Db& db) {
    const std::int64_t device_id = ResolveDevice(db, pk, dn);
    auto page = Unwrap(store::ListEvents(db, device_id, filter, query));
    const auto model = PublishedModel(products, db, pk);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& e : page.items) {
      const tsl::Event* event = model ? model->FindEvent(e.identifier) : nullptr;
      items.push_back({{"identifier", e.identifier},
                       {"name", event ? nlohmann::json(event->name) : nlohmann::json(nullptr)},
                       {"type", e.type},
                       {"output", JsonValue(e.output_json)},
                       {"time", e.time}});
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kEventsKind, page.next_cursor)));
  });
}

void ListServiceCalls(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::vector<ErrorItem> problems;
  store::ServiceCallFilter filter;
  filter.identifier = FilterParam(request, "identifier", problems);
  if (auto status = request.Query("status")) {
    store::ServiceCallStatus parsed{};
    if (store::Parse(*status, parsed)) {
      filter.status = parsed;
    } else {
      problems.push_back({"", 0,
                          "query parameter status must be queued, sent, succeeded, failed, "
                          "timeout, expired or rejected"});
    }
  }
  ThrowIfProblems(problems);
  store::TimeQuery query = ToTimeQuery(ParseListParams(request, true), kCallsKind);
  RunOnDb(pool, respond, [pk, dn, filter, query](store::Db& db) {
    const std::int64_t device_id = ResolveDevice(db, pk, dn);
    auto page = Unwrap(store::ListServiceCalls(db, device_id, filter, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& call : page.items) {
      items.push_back(ServiceCallJson(call));
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kCallsKind, page.next_cursor)));
  });
}

void GetServiceCall(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::string call_id = request.Param("callId");
  if (call_id.size() > 64) {
    throw ApiError::NotFound("no such service call");
  }
  RunOnDb(pool, respond, [pk, dn, call_id](store::Db& db) {
    const std::int64_t device_id = ResolveDevice(db, pk, dn);
    auto call = Unwrap(store::GetServiceCall(db, device_id, call_id), "no such service call: " + call_id);
    return JsonOk(200, ServiceCallJson(call));
  });
}

void ListRejections(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  store::TimeQuery query = ToTimeQuery(ParseListParams(request, true), kRejectionsKind);
  RunOnDb(pool, respond, [pk, dn, query](store::Db& db) {
    const std::int64_t device_id = ResolveDevice(db, pk, dn);
    auto page = Unwrap(store::ListRejections(db, device_id, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : page.items) {
      items.push_back({{"time", r.time},
                       {"method", r.method},
                       {"identifier", NullIfEmpty(r.identifier)},
                       {"value", JsonValue(r.value)},
                       {"code", r.code},
                       {"message", r.message}});
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kRejectionsKind, page.next_cursor)));
  });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/products/{pk}/properties/{id}/latest", kViewer, ListFleetLatest},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/properties", kViewer, ListProperties},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/properties/{id}/history", kViewer, GetPropertyHistory},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/properties/{id}/aggregate", kViewer, GetPropertyAggregate},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/events", kViewer, ListEvents},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/service-calls", kViewer, ListServiceCalls},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/service-calls/{callId}", kViewer, GetServiceCall},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/rejections", kViewer, ListRejections},
};

}  // namespace

void AddDeviceDataRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api
