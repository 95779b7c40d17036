-- wrk script: one property's aggregate, GET .../properties/{id}/aggregate?interval=..&from=..&to=.., for a
-- random device and a window of SPAN_MS ending at a random minute of the last day before LAST_MS, paced to
-- a fixed total rate. Authorization comes from wrk -H.
--   wrk ... -s bench/wrk/aggregate.lua URL -- RATE THREADS PK PREFIX DEVICES ID INTERVAL SPAN_MS LAST_MS
-- The RESULT line is named by IOT_WRK_NAME (e.g. aggregate_1h_30d_raw).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local pace = dofile(here .. "pace.lua")

local pacer, pk, prefix, devices, id, interval, span_ms, last_ms

function init(args)
  local rate, threads = tonumber(args[1]), tonumber(args[2])
  pk, prefix, devices, id, interval = args[3], args[4], tonumber(args[5]), args[6], args[7]
  span_ms, last_ms = tonumber(args[8]), tonumber(args[9])
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  pacer = pace.new(rate, threads)
end

function delay()
  return pacer.delay()
end

function request()
  local dn = string.format("%s%05d", prefix, math.random(1, devices))
  local to = last_ms - math.random(0, 1439) * 60000
  return wrk.format("GET", string.format("/api/v1/products/%s/devices/%s/properties/%s/aggregate?interval=%s&from=%d&to=%d",
                                         pk, dn, id, interval, to - span_ms, to))
end

function done(summary, latency, requests)
  pace.report(os.getenv("IOT_WRK_NAME") or "aggregate", os.getenv("IOT_WRK_TARGET_RPS") or "?", summary, latency)
end
