-- wrk script: POST /v1/telemetry, one sample per request, over keep-alive connections.
--
--   wrk -t1 -c32 -d5s -s bench/wrk/ingest.lua http://127.0.0.1:PORT -- SERVICES [RATE]
--
-- SERVICES distinct service ids are cycled through (default 100), with latencies ~ N(150, 25) ms
-- and payloads ~ N(2.45, 0.76) KB like the simulator's NORMAL mode. The requests are built once, in
-- init(), so wrk spends no time per request on Lua string work. "Connection: keep-alive" is sent
-- explicitly: Pistache 0.0.5 closes the connection of a request without it (the bare reference
-- server) and wrk would then reconnect for every request.
-- RATE (requests/s per wrk thread, optional) paces the load instead of sending as fast as possible:
-- each response's connection waits for the next free slot of a schedule spaced 1/RATE apart (wrk
-- delays in whole milliseconds; the schedule keeps the mean rate exact). Only with DW_WRK_PACED=1
-- in the environment, because wrk checks for a delay() function when it loads the script.
-- done() prints one line "WRK_JSON {...}" with the figures run.sh reads.

local services = 100
local slot_ms = nil   -- the schedule's spacing when paced
local last_slot = 0
local requests = {}
local next_index = 1

local function gaussian(mean, sigma)
  local u1 = math.max(math.random(), 1e-12)
  local u2 = math.random()
  return mean + sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
end

function init(args)
  services = tonumber(args[1] or "100")
  local rate = tonumber(args[2] or "0")
  if rate > 0 then slot_ms = 1000 / rate end
  -- Each wrk thread has its own Lua state; a fresh table's address tells them apart.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  local headers = { ["Content-Type"] = "application/json", ["Connection"] = "keep-alive" }
  local count = math.max(services, 1000)
  local first = math.random(0, services - 1)
  for i = 1, count do
    local id = string.format("bench-svc-%06d", (first + i - 1) % services)
    local body = string.format('{"service_id":"%s","latency_ms":%.3f,"payload_kb":%.3f}', id,
      math.max(1, gaussian(150, 25)), math.max(0, gaussian(2.45, 0.76)))
    requests[i] = wrk.format("POST", "/v1/telemetry", headers, body)
  end
  next_index = math.random(1, count)
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

if os.getenv("DW_WRK_PACED") == "1" then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } dw_timespec;
    int clock_gettime(int clock, dw_timespec* out);
  ]]
  local now = ffi.new("dw_timespec")
  local CLOCK_MONOTONIC = 1

  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
    return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
  end

  -- Slots missed while every connection was busy are sent late rather than dropped (up to this
  -- far back), so a stall does not lower the mean rate.
  local CATCH_UP_MS = 100

  function delay()
    local t = now_ms()
    last_slot = math.max(t - CATCH_UP_MS, last_slot + slot_ms)
    return math.max(0, math.floor(last_slot - t + 0.5))
  end
end

function done(summary, latency, requests_)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"requests_per_second":%.1f,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"non_2xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.timeout, e.status))
end
