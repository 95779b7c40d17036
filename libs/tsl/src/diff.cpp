#include "iot/tsl/diff.hpp"

#include <nlohmann/json.hpp>

namespace iot::tsl {
namespace {

using nlohmann::json;

// Who writes the values of a data type: devices (properties, event outputs, service outputs) or
// applications (service inputs). Narrowing a type breaks its writers; removing or retyping it
// breaks both writers and readers.
enum class Writer { kDevices, kApplications };

// One difference inside a data type or an element.
struct Finding {
  std::string path;
  std::string detail;
  bool breaks_writers = false;
  bool breaks_readers = false;
};

using Findings = std::vector<Finding>;

std::string Opt(const std::optional<std::string>& text) { return text ? *text : "none"; }

std::string Join(const std::string& path, std::string_view member) {
  if (path.empty()) {
    return std::string(member);
  }
  return path + "." + std::string(member);
}

void Narrowed(Findings& out, const std::string& path, std::string detail) {
  out.push_back({path, std::move(detail), true, false});
}
void Widened(Findings& out, const std::string& path, std::string detail) {
  out.push_back({path, std::move(detail), false, false});
}
void Retyped(Findings& out, const std::string& path, std::string detail) {
  out.push_back({path, std::move(detail), true, true});
}

// Values of `from` are all values of `to` (int -> float/double, float -> double).
bool NumericWidening(DataKind from, DataKind to) {
  return (from == DataKind::kInt && (to == DataKind::kFloat || to == DataKind::kDouble)) ||
         (from == DataKind::kFloat && to == DataKind::kDouble);
}

void CompareBound(const std::optional<double>& old_value, const std::optional<std::string>& old_text,
                  const std::optional<double>& new_value, const std::optional<std::string>& new_text,
                  std::string_view name, bool is_min, const std::string& path, Findings& out) {
  if (old_value == new_value) {
    return;
  }
  const std::string label(name);
  if (!new_value) {
    Widened(out, path, label + " " + Opt(old_text) + " removed");
  } else if (!old_value) {
    Narrowed(out, path, label + " " + Opt(new_text) + " added");
  } else if ((*new_value > *old_value) == is_min) {
    Narrowed(out, path, label + " narrowed from " + Opt(old_text) + " to " + Opt(new_text));
  } else {
    Widened(out, path, label + " widened from " + Opt(old_text) + " to " + Opt(new_text));
  }
}

// A limit where 0 means none (text length, array size).
void CompareLimit(std::uint32_t old_limit, std::uint32_t new_limit, std::string_view name,
                  const std::string& path, Findings& out) {
  if (old_limit == new_limit) {
    return;
  }
  const std::string label(name);
  auto text = [](std::uint32_t v) { return v == 0 ? std::string("unlimited") : std::to_string(v); };
  if (new_limit != 0 && (old_limit == 0 || new_limit < old_limit)) {
    Narrowed(out, path, label + " narrowed from " + text(old_limit) + " to " + text(new_limit));
  } else {
    Widened(out, path, label + " widened from " + text(old_limit) + " to " + text(new_limit));
  }
}

const EnumItem* FindItem(const std::vector<EnumItem>& items, std::int64_t key) {
  for (const auto& item : items) {
    if (item.key == key) {
      return &item;
    }
  }
  return nullptr;
}

void CompareItems(const DataType& a, const DataType& b, const std::string& path, Findings& out) {
  const bool is_enum = b.kind == DataKind::kEnum;
  for (const auto& old_item : a.items) {
    const EnumItem* now = FindItem(b.items, old_item.key);
    if (now == nullptr) {
      // A bool always has 0 and 1; only enums lose values.
      Narrowed(out, path, "value " + old_item.key_text + " (" + old_item.label + ") removed");
    } else if (now->label != old_item.label) {
      Widened(out, path,
              "label of " + old_item.key_text + " changed from \"" + old_item.label + "\" to \"" +
                  now->label + "\"");
    }
  }
  for (const auto& new_item : b.items) {
    if (FindItem(a.items, new_item.key) == nullptr && is_enum) {
      Widened(out, path, "value " + new_item.key_text + " (" + new_item.label + ") added");
    }
  }
}

const Param* FindParam(const std::vector<Param>& params, std::string_view id) {
  for (const auto& p : params) {
    if (p.identifier == id) {
      return &p;
    }
  }
  return nullptr;
}

void CompareType(const DataType& a, const DataType& b, const std::string& path, Findings& out);

void CompareMembers(const std::vector<Param>& a, const std::vector<Param>& b, const std::string& path,
                    Findings& out) {
  for (const auto& now : b) {
    const Param* before = FindParam(a, now.identifier);
    const std::string member = Join(path, now.identifier);
    if (before == nullptr) {
      // Strict mode requires every struct member, so posts without it would be refused.
      Narrowed(out, member, "member added (strict mode requires every member)");
    } else {
      CompareType(before->data_type, now.data_type, member, out);
    }
  }
  for (const auto& before : a) {
    if (FindParam(b, before.identifier) == nullptr) {
      Retyped(out, Join(path, before.identifier), "member removed");
    }
  }
}

void CompareType(const DataType& a, const DataType& b, const std::string& path, Findings& out) {
  if (a.kind != b.kind) {
    std::string detail =
        "type changed from " + std::string(KindName(a.kind)) + " to " + std::string(KindName(b.kind));
    if (NumericWidening(a.kind, b.kind)) {
      out.push_back({path, std::move(detail), false, true});  // old values pass; readers see a new type
    } else {
      Retyped(out, path, std::move(detail));
    }
    return;
  }
  switch (b.kind) {
    case DataKind::kInt:
    case DataKind::kFloat:
    case DataKind::kDouble:
      CompareBound(a.min_value, a.min, b.min_value, b.min, "min", true, path, out);
      CompareBound(a.max_value, a.max, b.max_value, b.max, "max", false, path, out);
      if (a.step != b.step) {
        Narrowed(out, path, "step changed from " + Opt(a.step) + " to " + Opt(b.step));
      }
      if (a.unit != b.unit) {
        out.push_back({path, "unit changed from " + Opt(a.unit) + " to " + Opt(b.unit), false, true});
      } else if (a.unit_name != b.unit_name) {
        Widened(out, path, "unitName changed from " + Opt(a.unit_name) + " to " + Opt(b.unit_name));
      }
      break;
    case DataKind::kText: CompareLimit(a.limit, b.limit, "length", path, out); break;
    case DataKind::kDate: break;
    case DataKind::kBool:
    case DataKind::kEnum: CompareItems(a, b, path, out); break;
    case DataKind::kStruct: CompareMembers(a.members, b.members, path, out); break;
    case DataKind::kArray:
      CompareLimit(a.limit, b.limit, "size", path, out);
      if (a.item && b.item) {
        CompareType(*a.item, *b.item, path + "[]", out);
      } else if (b.item) {
        Narrowed(out, path + "[]", "element type " + std::string(KindName(b.item->kind)) + " added");
      } else if (a.item) {
        Widened(out, path + "[]", "element type removed");
      }
      break;
  }
}

// Turns findings of an element written by `writer` into changes.
class Collector {
 public:
  explicit Collector(std::vector<Change>& out) : out_(out) {}

  Change Base(ChangeKind kind, std::string_view identifier, const std::string& module) const {
    Change c;
    c.kind = kind;
    c.identifier = std::string(identifier);
    c.module = module;
    return c;
  }

  void Add(Change change) { out_.push_back(std::move(change)); }

  void AddFindings(const Change& base, const Findings& findings, Writer writer) {
    for (const auto& f : findings) {
      Change c = base;
      c.change = ChangeType::kChanged;
      c.path = f.path;
      c.detail = f.detail;
      const bool devices_write = writer == Writer::kDevices;
      c.breaks_devices = devices_write ? f.breaks_writers : f.breaks_readers;
      c.breaks_applications = devices_write ? f.breaks_readers : f.breaks_writers;
      Add(std::move(c));
    }
  }

  void Simple(const Change& base, ChangeType type, std::string detail, bool devices, bool apps) {
    Change c = base;
    c.change = type;
    c.detail = std::move(detail);
    c.breaks_devices = devices;
    c.breaks_applications = apps;
    Add(std::move(c));
  }

 private:
  std::vector<Change>& out_;
};

void CompareTexts(Collector& sink, const Change& base, std::string_view field, const std::string& before,
                  const std::string& now) {
  if (before != now) {
    sink.Simple(base, ChangeType::kChanged,
                std::string(field) + " changed from \"" + before + "\" to \"" + now + "\"", false, false);
  }
}

std::string_view DirectionName(bool input) { return input ? "input" : "output"; }

// Event outputs (written by devices) and service inputs (applications) / outputs (devices).
void CompareParams(Collector& sink, const std::string& module, std::string_view parent, bool input,
                   Writer writer, const ParamList& a, const ParamList& b) {
  auto base = [&](const std::string& id) {
    Change c = sink.Base(ChangeKind::kParameter, id, module);
    c.parent = std::string(parent);
    c.direction = std::string(DirectionName(input));
    return c;
  };
  const bool devices_write = writer == Writer::kDevices;
  for (const auto& now : b.params) {
    const Param* before = FindParam(a.params, now.identifier);
    Change c = base(now.identifier);
    if (before == nullptr) {
      // Strict mode requires every service input (6302); outputs may be left out.
      const bool required = input;
      sink.Simple(c, ChangeType::kAdded,
                  std::string(DirectionName(input)) + " " + std::string(KindName(now.data_type.kind)) +
                      " added" + (required ? " (strict mode requires every input)" : ""),
                  required && devices_write, required && !devices_write);
      continue;
    }
    CompareTexts(sink, c, "name", before->name, now.name);
    Findings findings;
    CompareType(before->data_type, now.data_type, "", findings);
    sink.AddFindings(c, findings, writer);
  }
  for (const auto& before : a.params) {
    if (FindParam(b.params, before.identifier) == nullptr) {
      sink.Simple(base(before.identifier), ChangeType::kRemoved,
                  std::string(DirectionName(input)) + " removed", true, true);
    }
  }
}

std::string RequiredDetail(bool before, bool now) {
  return std::string("required changed from ") + (before ? "true" : "false") + " to " +
         (now ? "true" : "false");
}

// Losing a permission (rw -> r, rw -> w, r -> w, w -> r).
bool Tightened(AccessMode before, AccessMode now) { return before != now && now != AccessMode::kReadWrite; }

void CompareProperty(Collector& sink, const std::string& module, const Property& a, const Property& b) {
  const Change base = sink.Base(ChangeKind::kProperty, b.identifier, module);
  CompareTexts(sink, base, "name", a.name, b.name);
  CompareTexts(sink, base, "desc", a.desc, b.desc);
  if (a.access_mode != b.access_mode) {
    const bool tight = Tightened(a.access_mode, b.access_mode);
    sink.Simple(base, ChangeType::kChanged,
                "accessMode " + std::string(tight ? "tightened" : "widened") + " from " +
                    std::string(AccessModeName(a.access_mode)) + " to " +
                    std::string(AccessModeName(b.access_mode)),
                tight, tight);
  }
  if (a.required != b.required) {
    sink.Simple(base, ChangeType::kChanged, RequiredDetail(a.required, b.required), b.required, false);
  }
  Findings findings;
  CompareType(a.data_type, b.data_type, "", findings);
  sink.AddFindings(base, findings, Writer::kDevices);
}

void CompareEvent(Collector& sink, const std::string& module, const Event& a, const Event& b) {
  const Change base = sink.Base(ChangeKind::kEvent, b.identifier, module);
  CompareTexts(sink, base, "name", a.name, b.name);
  CompareTexts(sink, base, "desc", a.desc, b.desc);
  if (a.type != b.type) {
    sink.Simple(base, ChangeType::kChanged,
                "type changed from " + std::string(EventTypeName(a.type)) + " to " +
                    std::string(EventTypeName(b.type)),
                false, false);
  }
  if (a.required != b.required) {
    sink.Simple(base, ChangeType::kChanged, RequiredDetail(a.required, b.required), b.required, false);
  }
  CompareParams(sink, module, b.identifier, false, Writer::kDevices, a.outputs, b.outputs);
}

void CompareService(Collector& sink, const std::string& module, const Service& a, const Service& b) {
  const Change base = sink.Base(ChangeKind::kService, b.identifier, module);
  CompareTexts(sink, base, "name", a.name, b.name);
  CompareTexts(sink, base, "desc", a.desc, b.desc);
  if (a.call_type != b.call_type) {
    // Callers wait for a sync answer or not; devices answer over RRPC or on the reply topic.
    sink.Simple(base, ChangeType::kChanged,
                "callType changed from " + std::string(CallTypeName(a.call_type)) + " to " +
                    std::string(CallTypeName(b.call_type)),
                true, true);
  }
  if (a.required != b.required) {
    sink.Simple(base, ChangeType::kChanged, RequiredDetail(a.required, b.required), b.required, false);
  }
  CompareParams(sink, module, b.identifier, true, Writer::kApplications, a.inputs, b.inputs);
  CompareParams(sink, module, b.identifier, false, Writer::kDevices, a.outputs, b.outputs);
}

template <class T>
const T* FindById(const std::vector<T>& items, std::string_view id) {
  for (const auto& item : items) {
    if (item.identifier == id) {
      return &item;
    }
  }
  return nullptr;
}

// Walks `to`'s elements (changed or added), then `from`'s missing ones (removed).
template <class T, class Compare, class Added, class Removed>
void Walk(const std::vector<T>* from, const std::vector<T>* to, Compare compare, Added added,
          Removed removed) {
  if (to != nullptr) {
    for (const auto& now : *to) {
      const T* before = from ? FindById(*from, now.identifier) : nullptr;
      if (before != nullptr) {
        compare(*before, now);
      } else {
        added(now);
      }
    }
  }
  if (from != nullptr) {
    for (const auto& before : *from) {
      if (to == nullptr || FindById(*to, before.identifier) == nullptr) {
        removed(before);
      }
    }
  }
}

void CompareModules(Collector& sink, const std::string& module, const Module* a, const Module* b) {
  auto added_detail = [](bool required, std::string what) {
    return required ? what + " added as required" : what + " added";
  };
  Walk(
      a ? &a->properties : nullptr, b ? &b->properties : nullptr,
      [&](const Property& x, const Property& y) { CompareProperty(sink, module, x, y); },
      [&](const Property& y) {
        sink.Simple(sink.Base(ChangeKind::kProperty, y.identifier, module), ChangeType::kAdded,
                    added_detail(y.required, std::string(KindName(y.data_type.kind)) + " " +
                                                 std::string(AccessModeName(y.access_mode)) + " property"),
                    y.required, false);
      },
      [&](const Property& x) {
        sink.Simple(sink.Base(ChangeKind::kProperty, x.identifier, module), ChangeType::kRemoved,
                    "property removed: posts of it are refused (6304) and its history ends", true, true);
      });
  Walk(
      a ? &a->events : nullptr, b ? &b->events : nullptr,
      [&](const Event& x, const Event& y) { CompareEvent(sink, module, x, y); },
      [&](const Event& y) {
        sink.Simple(sink.Base(ChangeKind::kEvent, y.identifier, module), ChangeType::kAdded,
                    added_detail(y.required, std::string(EventTypeName(y.type)) + " event"), y.required,
                    false);
      },
      [&](const Event& x) {
        sink.Simple(sink.Base(ChangeKind::kEvent, x.identifier, module), ChangeType::kRemoved,
                    "event removed: posts of it are refused (6304)", true, true);
      });
  Walk(
      a ? &a->services : nullptr, b ? &b->services : nullptr,
      [&](const Service& x, const Service& y) { CompareService(sink, module, x, y); },
      [&](const Service& y) {
        sink.Simple(sink.Base(ChangeKind::kService, y.identifier, module), ChangeType::kAdded,
                    added_detail(y.required, std::string(CallTypeName(y.call_type)) + " service"), y.required,
                    false);
      },
      [&](const Service& x) {
        sink.Simple(sink.Base(ChangeKind::kService, x.identifier, module), ChangeType::kRemoved,
                    "service removed: calls of it are refused (6206)", false, true);
      });
}

}  // namespace

std::string_view ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kEvent: return "event";
    case ChangeKind::kService: return "service";
    case ChangeKind::kParameter: return "parameter";
    case ChangeKind::kProperty: break;
  }
  return "property";
}

std::string_view ChangeTypeName(ChangeType type) {
  switch (type) {
    case ChangeType::kAdded: return "added";
    case ChangeType::kRemoved: return "removed";
    case ChangeType::kChanged: break;
  }
  return "changed";
}

std::string_view ChangeClassName(ChangeClass klass) {
  switch (klass) {
    case ChangeClass::kBreaksDevices: return "breaks-devices";
    case ChangeClass::kBreaksApplications: return "breaks-applications";
    case ChangeClass::kCompatible: break;
  }
  return "compatible";
}

ChangeClass Change::Class() const {
  if (breaks_devices) {
    return ChangeClass::kBreaksDevices;
  }
  if (breaks_applications) {
    return ChangeClass::kBreaksApplications;
  }
  return ChangeClass::kCompatible;
}

std::vector<Change> DiffModels(const ThingModel* from, const ThingModel& to) {
  std::vector<Change> out;
  Collector sink(out);
  for (const Module& module : to.modules()) {
    const Module* before = from ? from->FindModule(module.function_block_id) : nullptr;
    CompareModules(sink, module.function_block_id, before, &module);
  }
  if (from != nullptr) {
    for (const Module& module : from->modules()) {
      if (to.FindModule(module.function_block_id) == nullptr) {
        CompareModules(sink, module.function_block_id, &module, nullptr);
      }
    }
  }
  return out;
}

DiffSummary Summarise(const std::vector<Change>& changes) {
  DiffSummary s;
  for (const auto& c : changes) {
    if (c.breaks_devices) {
      ++s.breaks_devices;
    }
    if (c.breaks_applications) {
      ++s.breaks_applications;
    }
    if (!c.breaks_devices && !c.breaks_applications) {
      ++s.compatible;
    }
  }
  return s;
}

json ChangeToJson(const Change& change) {
  json classes = json::array();
  if (change.breaks_devices) {
    classes.push_back(ChangeClassName(ChangeClass::kBreaksDevices));
  }
  if (change.breaks_applications) {
    classes.push_back(ChangeClassName(ChangeClass::kBreaksApplications));
  }
  if (classes.empty()) {
    classes.push_back(ChangeClassName(ChangeClass::kCompatible));
  }
  json out = {{"kind", ChangeKindName(change.kind)},
              {"identifier", change.identifier},
              {"module", change.module},
              {"change", ChangeTypeName(change.change)},
              {"detail", change.detail},
              {"class", ChangeClassName(change.Class())},
              {"classes", std::move(classes)}};
  if (change.kind == ChangeKind::kParameter) {
    out["parent"] = change.parent;
    out["direction"] = change.direction;
  }
  if (!change.path.empty()) {
    out["path"] = change.path;
  }
  return out;
}

json SummaryToJson(const DiffSummary& summary) {
  return {{"compatible", summary.compatible},
          {"breaksDevices", summary.breaks_devices},
          {"breaksApplications", summary.breaks_applications},
          {"breaking", summary.breaking()}};
}

}  // namespace iot::tsl
