-- Shared by every bench/run wrk script (loaded with dofile; bench/run sets BENCH_LUA_DIR).
-- Prints one line, `BENCHJSON {...}`, with wrk's summary and latency percentiles (µs) for
-- bench/run to read, plus `bad`: responses a script's own `response` hook found wrong, and `rotated`:
-- refresh tokens replaced (refresh.lua).
-- A script may define `bench_setup(thread, index)` (runs in wrk's main Lua state, once per
-- thread, before the thread starts) to hand each thread its own values with thread:set.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  if bench_setup then
    bench_setup(thread, #threads)
  end
end

function done(summary, latency, requests)
  local bad, rotated = 0, 0
  for _, t in ipairs(threads) do
    local v = t:get("bench_bad")
    if type(v) == "number" then
      bad = bad + v
    end
    v = t:get("rotated")
    if type(v) == "number" then
      rotated = rotated + v
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"threads":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,"bad":%d,"rotated":%d,' ..
    '"lat_mean_us":%.1f,"lat_stdev_us":%.1f,"lat_max_us":%d,' ..
    '"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, #threads,
    e.connect, e.read, e.write, e.status, e.timeout, bad, rotated,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
