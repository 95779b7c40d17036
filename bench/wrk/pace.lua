-- Shared by bench/wrk/*.lua: open-loop pacing to a fixed total request rate (wrk has no rate option),
-- and the RESULT line of the summary. Loaded with dofile() by the scripts next to it.
--
-- Each wrk thread keeps an absolute schedule, one slot every threads*1000/rate ms; delay() (called by
-- wrk before every request of every connection) hands the next slot to the connection asking. With
-- more connections than requests in flight, the thread sends at the scheduled rate whatever the
-- response times are; a thread that falls behind sends at once (catching up at most one second).
-- Latency is measured by wrk from the moment a request is written.
local ffi = require("ffi")
pcall(ffi.cdef, [[
  typedef struct { long tv_sec; long tv_nsec; } iot_bench_timespec;
  int clock_gettime(int clk_id, iot_bench_timespec *tp);
]])
local ts = ffi.new("iot_bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local pace = {}

-- rate: total requests/s over all threads; threads: wrk -t.
function pace.new(rate, threads)
  local p = { interval = threads * 1000.0 / rate, next = nil }
  function p.delay()
    local t = now_ms()
    if p.next == nil then
      p.next = t + math.random() * p.interval  -- threads start staggered
    elseif p.next < t - 1000 then
      p.next = t
    end
    local d = p.next - t
    p.next = p.next + p.interval
    if d < 0 then return 0 end
    return math.floor(d)
  end
  return p
end

-- One parseable line plus wrk's own report: RESULT name=... rps=... p50_ms=... p99_ms=...
function pace.report(name, target_rps, summary, latency)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local function ms(us) return string.format("%.2f", us / 1000.0) end
  io.write(string.format(
    "RESULT name=%s target_rps=%s rps=%.1f requests=%d duration_s=%.1f p50_ms=%s p90_ms=%s p99_ms=%s " ..
    "p99.9_ms=%s max_ms=%s mean_ms=%s errors_connect=%d errors_read=%d errors_write=%d errors_status=%d " ..
    "errors_timeout=%d\n",
    name, tostring(target_rps), summary.requests / secs, summary.requests, secs,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency:percentile(99.9)), ms(latency.max), ms(latency.mean),
    e.connect, e.read, e.write, e.status, e.timeout))
end

return pace
