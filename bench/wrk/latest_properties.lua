-- wrk script: GET /api/v1/products/{pk}/devices/{dn}/properties for a random device, paced to a fixed
-- total rate. The Authorization header comes from wrk -H.
--   wrk -t2 -c50 -d30s -s bench/wrk/latest_properties.lua http://127.0.0.1:PORT -- RATE THREADS PK PREFIX DEVICES
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local pace = dofile(here .. "pace.lua")

local rate, threads, pk, prefix, devices = 1000, 2, "bench3read", "rd-", 100
local pacer

function init(args)
  rate = tonumber(args[1] or rate)
  threads = tonumber(args[2] or threads)
  pk = args[3] or pk
  prefix = args[4] or prefix
  devices = tonumber(args[5] or devices)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  pacer = pace.new(rate, threads)
end

function delay()
  return pacer.delay()
end

function request()
  local dn = string.format("%s%05d", prefix, math.random(1, devices))
  return wrk.format("GET", "/api/v1/products/" .. pk .. "/devices/" .. dn .. "/properties")
end

function done(summary, latency, requests)
  pace.report("latest_properties", os.getenv("IOT_WRK_TARGET_RPS") or "?", summary, latency)
end
