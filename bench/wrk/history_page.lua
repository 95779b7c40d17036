-- wrk script: one 1,000-point history page, GET .../properties/{id}/history?limit=1000&from=..&to=..,
-- for a random device, property and window inside the loaded span, paced to a fixed total rate.
--   wrk ... -s bench/wrk/history_page.lua URL -- RATE THREADS PK PREFIX DEVICES IDS FIRST_MS LAST_MS STEP_MS
-- IDS is a comma-separated list of property identifiers; samples are STEP_MS apart from FIRST_MS to
-- LAST_MS for every device and identifier, so a window of 1,000 steps holds 1,000 points (one more when
-- both ends fall on a sample; limit=1000 caps the page).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local pace = dofile(here .. "pace.lua")

local pacer, pk, prefix, devices, ids, first_ms, last_ms, step_ms

function init(args)
  local rate, threads = tonumber(args[1]), tonumber(args[2])
  pk, prefix, devices = args[3], args[4], tonumber(args[5])
  ids = {}
  for id in string.gmatch(args[6], "[^,]+") do ids[#ids + 1] = id end
  first_ms, last_ms, step_ms = tonumber(args[7]), tonumber(args[8]), tonumber(args[9])
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  pacer = pace.new(rate, threads)
end

function delay()
  return pacer.delay()
end

function request()
  local dn = string.format("%s%05d", prefix, math.random(1, devices))
  local id = ids[math.random(1, #ids)]
  local span = 1000 * step_ms
  local slots = math.floor((last_ms - first_ms - span) / step_ms)
  local from = first_ms + math.random(0, slots) * step_ms
  return wrk.format("GET", string.format("/api/v1/products/%s/devices/%s/properties/%s/history?limit=1000&from=%d&to=%d",
                                         pk, dn, id, from, from + span))
end

function done(summary, latency, requests)
  -- api_read.sh's phases history, history_compacted, history_spanning, history_hot
  local suffix = (os.getenv("IOT_WRK_NAME") or "history"):gsub("^history_?", "")
  pace.report("history_page_1000" .. (suffix ~= "" and "_" .. suffix or ""), os.getenv("IOT_WRK_TARGET_RPS") or "?",
              summary, latency)
end
