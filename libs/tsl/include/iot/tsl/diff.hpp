#pragma once

// Differences between two thing models (e.g. the published version and a draft), each classified
// by who it breaks:
//   compatible           a device (and an application) that follows the old version still passes;
//   breaks-devices       values that passed would now be refused (type changed, range or length
//                        narrowed, enum value removed, member or property removed, required added,
//                        accessMode tightened, step changed);
//   breaks-applications  what history, forwarding consumers or callers of services rely on is
//                        removed or retyped (or a service input narrowed: callers are refused).
// One change may break both; `class` is then breaks-devices and `classes` lists both.
//
// The classification does not depend on the validation mode: a narrowed range is reported as
// breaking even though only strict mode checks ranges (the product's mode may change later).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iot/tsl/thing_model.hpp"

namespace iot::tsl {

enum class ChangeKind { kProperty, kEvent, kService, kParameter };
enum class ChangeType { kAdded, kRemoved, kChanged };
enum class ChangeClass { kCompatible, kBreaksDevices, kBreaksApplications };

std::string_view ChangeKindName(ChangeKind kind);     // "property", "event", "service", "parameter"
std::string_view ChangeTypeName(ChangeType type);     // "added", "removed", "changed"
std::string_view ChangeClassName(ChangeClass klass);  // "compatible", "breaks-devices", ...

struct Change {
  ChangeKind kind = ChangeKind::kProperty;
  std::string identifier;  // property, event or service id; for a parameter the parameter's id
  std::string module;      // functionBlockId, "" for the default module
  std::string parent;      // parameters only: the event or service they belong to
  std::string direction;   // parameters only: "output" (events, services) or "input" (services)
  std::string path;        // inside the data type ("Position.Lat", "Zones[]"); "" = the element
  ChangeType change = ChangeType::kChanged;
  std::string detail;  // e.g. "max narrowed from 100 to 50"
  bool breaks_devices = false;
  bool breaks_applications = false;

  // breaks-devices when it breaks devices, else breaks-applications when it breaks them, else
  // compatible.
  ChangeClass Class() const;
};

struct DiffSummary {
  std::size_t compatible = 0;
  std::size_t breaks_devices = 0;       // changes that break devices (also counted below if both)
  std::size_t breaks_applications = 0;  // changes that break applications
  bool breaking() const { return breaks_devices + breaks_applications > 0; }
};

// Every added, removed and changed property, event, service and parameter, module by module
// (modules of `to` in order, then modules only in `from`); inside a module properties, events and
// services, each in `to`'s order followed by the removed ones. `from` null = nothing published yet
// (everything is added).
std::vector<Change> DiffModels(const ThingModel* from, const ThingModel& to);

DiffSummary Summarise(const std::vector<Change>& changes);

// {"kind","identifier","module","change","detail","class","classes":[...]} plus "parent",
// "direction" for parameters and "path" when set.
nlohmann::json ChangeToJson(const Change& change);
// {"compatible":n,"breaksDevices":n,"breaksApplications":n,"breaking":bool}
nlohmann::json SummaryToJson(const DiffSummary& summary);

}  // namespace iot::tsl
