-- wrk script: GET /api/v1/products/{pk}/properties/{id}/latest?limit=LIMIT (one property's newest value for
-- every device of a product in one answer), paced to a fixed total rate. Authorization comes from wrk -H.
--   wrk -t1 -c4 -d30s -s bench/wrk/fleet_latest.lua http://127.0.0.1:PORT -- RATE THREADS PK ID LIMIT
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local pace = dofile(here .. "pace.lua")

local rate, threads, pk, id, limit = 10, 1, "bench3fleet", "temperature", 10000
local pacer

function init(args)
  rate = tonumber(args[1] or rate)
  threads = tonumber(args[2] or threads)
  pk = args[3] or pk
  id = args[4] or id
  limit = tonumber(args[5] or limit)
  pacer = pace.new(rate, threads)
end

function delay()
  return pacer.delay()
end

function request()
  return wrk.format("GET", "/api/v1/products/" .. pk .. "/properties/" .. id .. "/latest?limit=" .. limit)
end

function done(summary, latency, requests)
  pace.report("fleet_latest", os.getenv("IOT_WRK_TARGET_RPS") or "?", summary, latency)
end
