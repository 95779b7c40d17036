// libFuzzer target: validates arbitrary payload JSON in all three modes against the §1.6 reference
// model (plus a custom module), through every message kind. Checks that nothing throws and that
// every message is valid UTF-8.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/tsl/parser.hpp"
#include "iot/tsl/validator.hpp"

namespace {

using nlohmann::json;

// The reference example of docs §1.6 (get.outputData left empty, as in the spec).
constexpr std::string_view kModel =
    R"tsl({"schema":"https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json","profile":{"version":"1)tsl"
    R"tsl(.0","productKey":"a1ExAmPlEpk"},"properties":[{"identifier":"PowerOn","name":"Power switch","acc)tsl"
    R"tsl(essMode":"rw","required":true,"dataType":{"type":"bool","specs":{"0":"off","1":"on"}}},{"identif)tsl"
    R"tsl(ier":"TargetTemp","name":"Target temperature","accessMode":"rw","required":false,"dataType":{"ty)tsl"
    R"tsl(pe":"float","specs":{"min":"5","max":"35","step":"0.5","unit":"°C","unitName":"degree Celsius"}})tsl"
    R"tsl(},{"identifier":"Humidity","name":"Relative humidity","accessMode":"r","required":false,"dataTyp)tsl"
    R"tsl(e":{"type":"double","specs":{"min":"0","max":"100","step":"0.01","unit":"%RH","unitName":"relati)tsl"
    R"tsl(ve humidity"}}},{"identifier":"FanLevel","name":"Fan level","accessMode":"rw","required":false,")tsl"
    R"tsl(dataType":{"type":"enum","specs":{"0":"auto","1":"low","2":"high"}}},{"identifier":"RunCount","n)tsl"
    R"tsl(ame":"Run counter","accessMode":"r","required":false,"dataType":{"type":"int","specs":{"min":"0")tsl"
    R"tsl(,"max":"1000000","step":"1","unit":"","unitName":""}}},{"identifier":"Label","name":"Device labe)tsl"
    R"tsl(l","accessMode":"rw","required":false,"dataType":{"type":"text","specs":{"length":"32"}}},{"iden)tsl"
    R"tsl(tifier":"LastService","name":"Last service time","accessMode":"r","required":false,"dataType":{")tsl"
    R"tsl(type":"date","specs":{}}},{"identifier":"Position","name":"Position","accessMode":"r","required")tsl"
    R"tsl(:false,"dataType":{"type":"struct","specs":[{"identifier":"Lat","name":"Latitude","dataType":{"t)tsl"
    R"tsl(ype":"double","specs":{"min":"-90","max":"90","step":"0.000001","unit":"°","unitName":"degree"}})tsl"
    R"tsl(},{"identifier":"Lng","name":"Longitude","dataType":{"type":"double","specs":{"min":"-180","max")tsl"
    R"tsl(:"180","step":"0.000001","unit":"°","unitName":"degree"}}},{"identifier":"Fix","name":"Fix sourc)tsl"
    R"tsl(e","dataType":{"type":"enum","specs":{"0":"none","1":"gps","2":"cell"}}},{"identifier":"Valid",")tsl"
    R"tsl(name":"Fix valid","dataType":{"type":"bool","specs":{"0":"no","1":"yes"}}},{"identifier":"Ts","n)tsl"
    R"tsl(ame":"Fix time","dataType":{"type":"date","specs":{}}},{"identifier":"Note","name":"Note","dataT)tsl"
    R"tsl(ype":{"type":"text","specs":{"length":"16"}}},{"identifier":"Sats","name":"Satellites","dataType)tsl"
    R"tsl(":{"type":"int","specs":{"min":"0","max":"64","step":"1"}}}]}},{"identifier":"Samples","name":"R)tsl"
    R"tsl(aw samples","accessMode":"r","required":false,"dataType":{"type":"array","specs":{"size":"8","it)tsl"
    R"tsl(em":{"type":"float"}}}},{"identifier":"Zones","name":"Zones","accessMode":"rw","required":false,)tsl"
    R"tsl("dataType":{"type":"array","specs":{"size":"4","item":{"type":"struct","specs":[{"identifier":"Z)tsl"
    R"tsl(oneId","name":"Zone id","dataType":{"type":"int","specs":{"min":"1","max":"4","step":"1"}}},{"id)tsl"
    R"tsl(entifier":"ZoneName","name":"Zone name","dataType":{"type":"text","specs":{"length":"16"}}}]}}}})tsl"
    R"tsl(],"events":[{"identifier":"post","name":"post","type":"info","required":true,"desc":"property re)tsl"
    R"tsl(port","method":"thing.event.property.post","outputData":[{"identifier":"PowerOn","name":"Power s)tsl"
    R"tsl(witch","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}},{"identifier":"TargetTemp","name)tsl"
    R"tsl(":"Target temperature","dataType":{"type":"float","specs":{"min":"5","max":"35","step":"0.5","un)tsl"
    R"tsl(it":"°C","unitName":"degree Celsius"}}},{"identifier":"Humidity","name":"Relative humidity","dat)tsl"
    R"tsl(aType":{"type":"double","specs":{"min":"0","max":"100","step":"0.01","unit":"%RH","unitName":"re)tsl"
    R"tsl(lative humidity"}}},{"identifier":"FanLevel","name":"Fan level","dataType":{"type":"enum","specs)tsl"
    R"tsl(":{"0":"auto","1":"low","2":"high"}}},{"identifier":"RunCount","name":"Run counter","dataType":{)tsl"
    R"tsl("type":"int","specs":{"min":"0","max":"1000000","step":"1","unit":"","unitName":""}}},{"identifi)tsl"
    R"tsl(er":"Label","name":"Device label","dataType":{"type":"text","specs":{"length":"32"}}},{"identifi)tsl"
    R"tsl(er":"LastService","name":"Last service time","dataType":{"type":"date","specs":{}}},{"identifier)tsl"
    R"tsl(":"Position","name":"Position","dataType":{"type":"struct","specs":[{"identifier":"Lat","name":")tsl"
    R"tsl(Latitude","dataType":{"type":"double","specs":{"min":"-90","max":"90","step":"0.000001","unit":")tsl"
    R"tsl(°","unitName":"degree"}}},{"identifier":"Lng","name":"Longitude","dataType":{"type":"double","sp)tsl"
    R"tsl(ecs":{"min":"-180","max":"180","step":"0.000001","unit":"°","unitName":"degree"}}},{"identifier")tsl"
    R"tsl(:"Fix","name":"Fix source","dataType":{"type":"enum","specs":{"0":"none","1":"gps","2":"cell"}}})tsl"
    R"tsl(,{"identifier":"Valid","name":"Fix valid","dataType":{"type":"bool","specs":{"0":"no","1":"yes"})tsl"
    R"tsl(}},{"identifier":"Ts","name":"Fix time","dataType":{"type":"date","specs":{}}},{"identifier":"No)tsl"
    R"tsl(te","name":"Note","dataType":{"type":"text","specs":{"length":"16"}}},{"identifier":"Sats","name)tsl"
    R"tsl(":"Satellites","dataType":{"type":"int","specs":{"min":"0","max":"64","step":"1"}}}]}},{"identif)tsl"
    R"tsl(ier":"Samples","name":"Raw samples","dataType":{"type":"array","specs":{"size":"8","item":{"type)tsl"
    R"tsl(":"float"}}}},{"identifier":"Zones","name":"Zones","dataType":{"type":"array","specs":{"size":"4)tsl"
    R"tsl(","item":{"type":"struct","specs":[{"identifier":"ZoneId","name":"Zone id","dataType":{"type":"i)tsl"
    R"tsl(nt","specs":{"min":"1","max":"4","step":"1"}}},{"identifier":"ZoneName","name":"Zone name","data)tsl"
    R"tsl(Type":{"type":"text","specs":{"length":"16"}}}]}}}}]},{"identifier":"LowBattery","name":"Low bat)tsl"
    R"tsl(tery","type":"alert","required":false,"method":"thing.event.LowBattery.post","outputData":[{"ide)tsl"
    R"tsl(ntifier":"Level","name":"Battery level","dataType":{"type":"int","specs":{"min":"0","max":"100",)tsl"
    R"tsl("step":"1","unit":"%","unitName":"percent"}}},{"identifier":"Since","name":"Since","dataType":{")tsl"
    R"tsl(type":"date","specs":{}}}]},{"identifier":"Fault","name":"Fault","type":"error","required":false)tsl"
    R"tsl(,"method":"thing.event.Fault.post","outputData":[{"identifier":"Code","name":"Fault code","dataT)tsl"
    R"tsl(ype":{"type":"enum","specs":{"1":"sensor","2":"motor","3":"overheat"}}},{"identifier":"Detail",")tsl"
    R"tsl(name":"Detail","dataType":{"type":"text","specs":{"length":"128"}}}]}],"services":[{"identifier")tsl"
    R"tsl(:"set","name":"set","required":true,"callType":"async","desc":"property set","method":"thing.ser)tsl"
    R"tsl(vice.property.set","inputData":[{"identifier":"PowerOn","name":"Power switch","dataType":{"type")tsl"
    R"tsl(:"bool","specs":{"0":"off","1":"on"}}},{"identifier":"TargetTemp","name":"Target temperature","d)tsl"
    R"tsl(ataType":{"type":"float","specs":{"min":"5","max":"35","step":"0.5","unit":"°C","unitName":"degr)tsl"
    R"tsl(ee Celsius"}}},{"identifier":"FanLevel","name":"Fan level","dataType":{"type":"enum","specs":{"0)tsl"
    R"tsl(":"auto","1":"low","2":"high"}}},{"identifier":"Label","name":"Device label","dataType":{"type":)tsl"
    R"tsl("text","specs":{"length":"32"}}},{"identifier":"Zones","name":"Zones","dataType":{"type":"array")tsl"
    R"tsl(,"specs":{"size":"4","item":{"type":"struct","specs":[{"identifier":"ZoneId","name":"Zone id","d)tsl"
    R"tsl(ataType":{"type":"int","specs":{"min":"1","max":"4","step":"1"}}},{"identifier":"ZoneName","name)tsl"
    R"tsl(":"Zone name","dataType":{"type":"text","specs":{"length":"16"}}}]}}}}],"outputData":[]},{"ident)tsl"
    R"tsl(ifier":"get","name":"get","required":true,"callType":"async","desc":"property get","method":"thi)tsl"
    R"tsl(ng.service.property.get","inputData":["PowerOn","TargetTemp","Humidity","FanLevel","RunCount","L)tsl"
    R"tsl(abel","LastService","Position","Samples","Zones"],"outputData":[]},{"identifier":"Reboot","name")tsl"
    R"tsl(:"Reboot","required":false,"callType":"async","method":"thing.service.Reboot","inputData":[{"ide)tsl"
    R"tsl(ntifier":"DelaySec","name":"Delay","dataType":{"type":"int","specs":{"min":"0","max":"3600","ste)tsl"
    R"tsl(p":"1","unit":"s","unitName":"second"}}}],"outputData":[]},{"identifier":"SelfTest","name":"Self)tsl"
    R"tsl( test","required":false,"callType":"sync","method":"thing.service.SelfTest","inputData":[{"ident)tsl"
    R"tsl(ifier":"Depth","name":"Depth","dataType":{"type":"enum","specs":{"0":"quick","1":"full"}}}],"out)tsl"
    R"tsl(putData":[{"identifier":"Passed","name":"Passed","dataType":{"type":"bool","specs":{"0":"fail",")tsl"
    R"tsl(1":"pass"}}},{"identifier":"Report","name":"Report","dataType":{"type":"text","specs":{"length":)tsl"
    R"tsl("1024"}}}]}]})tsl";

constexpr std::string_view kCustomModule =
    R"tsl({"schema":"https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json","profile":{"version":"1)tsl"
    R"tsl(.0","productKey":"a1ExAmPlEpk"},"functionBlockId":"testFb","functionBlockName":"Test block","pro)tsl"
    R"tsl(perties":[{"identifier":"temperature","name":"Temperature","accessMode":"r","required":false,"da)tsl"
    R"tsl(taType":{"type":"float","specs":{"min":"-40","max":"125","step":"0.1","unit":"°C","unitName":"de)tsl"
    R"tsl(gree Celsius"}}},{"identifier":"PowerOn","name":"Block power","accessMode":"rw","required":false)tsl"
    R"tsl(,"dataType":{"type":"bool","specs":{"0":"off","1":"on"}}}],"events":[{"identifier":"Overheat","n)tsl"
    R"tsl(ame":"Overheat","type":"alert","required":false,"method":"thing.event.Overheat.post","outputData)tsl"
    R"tsl(":[{"identifier":"Temp","name":"Temperature","dataType":{"type":"double","specs":{"min":"0","max)tsl"
    R"tsl(":"200","step":"0.1"}}}]}],"services":[{"identifier":"Calibrate","name":"Calibrate","required":f)tsl"
    R"tsl(alse,"callType":"sync","method":"thing.service.Calibrate","inputData":[{"identifier":"Offset","n)tsl"
    R"tsl(ame":"Offset","dataType":{"type":"float","specs":{"min":"-5","max":"5","step":"0.01"}}}],"output)tsl"
    R"tsl(Data":[{"identifier":"Ok","name":"Ok","dataType":{"type":"bool","specs":{"0":"no","1":"yes"}}}]})tsl"
    R"tsl(]})tsl";

const iot::tsl::ThingModel& Model() {
  static const iot::tsl::ThingModel model = [] {
    auto result = iot::tsl::ParseThingModel(kModel, {kCustomModule});
    if (!result.ok()) {
      std::abort();
    }
    return std::move(*result.model);
  }();
  return model;
}

void CheckReport(const iot::tsl::Report& report) {
  // Messages end up in JSON replies: they must always serialise.
  (void)json(report.message).dump();
  for (const auto& refusal : report.refused) {
    if (refusal.code == 0 || refusal.message.empty()) {
      std::abort();
    }
    (void)json(refusal.message).dump();
  }
  for (const auto& item : report.accepted) {
    if (item.value == nullptr) {
      std::abort();
    }
  }
}

void ValidateAll(const iot::tsl::Validator& validator, const json& params) {
  constexpr std::int64_t kNow = 1700000000000;
  iot::tsl::Report report;
  validator.PropertyPost(params, kNow, report);
  CheckReport(report);
  for (const char* event : {"LowBattery", "Fault", "testFb:Overheat", "post", "Nope"}) {
    validator.EventPost(event, params, kNow, report);
    CheckReport(report);
  }
  for (const char* service : {"Reboot", "SelfTest", "set", "testFb:Calibrate", "Nope"}) {
    CheckReport(validator.ServiceInput(service, params, kNow));
    CheckReport(validator.ServiceOutput(service, params, kNow));
  }
  CheckReport(validator.PropertySet(params, kNow));
  CheckReport(validator.DesiredGet(params, kNow));
  CheckReport(validator.DesiredDelete(params, kNow));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const json payload =
      json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (payload.is_discarded()) {
    return 0;
  }
  for (const auto mode : {iot::tsl::Mode::kNone, iot::tsl::Mode::kWeak, iot::tsl::Mode::kStrict}) {
    const iot::tsl::Validator validator(&Model(), mode);
    ValidateAll(validator, payload);
    // A whole Alink envelope: validate its params too.
    if (payload.is_object()) {
      if (const auto it = payload.find("params"); it != payload.end()) {
        ValidateAll(validator, *it);
      }
    }
    CheckReport(iot::tsl::Validator(nullptr, mode).PropertyPost(payload, 0));
  }
  return 0;
}
