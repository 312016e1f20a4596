-- wrk script: one MCP tools/call (echo), repeated. Whether it is paid or free, and answered as JSON
-- or SSE, is the listing's doing (the URL's path); the request is the same for all of them.
-- The API key arrives in MCPMETER_KEY so it never sits in a file or on a command line; with no
-- key (the direct baseline) the header is simply left out.

local key = os.getenv("MCPMETER_KEY") or ""
-- MCPMETER_KEYS (comma-separated) spreads the calls over many consumers, as many agents would.
local keys = {}
for k in string.gmatch(os.getenv("MCPMETER_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = k
end
-- BENCH_PATHS (comma-separated) takes turns over several listings: the JIT warm-up, so every
-- path that will be measured is compiled before anything is.
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do
  paths[#paths + 1] = p
end

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- Without request() wrk sends one prebuilt request over and over, the cheapest for the load
-- generator; it is defined only when something changes from call to call.
if #keys > 1 or #paths > 1 then
  local n = math.random(#keys > 0 and #keys or 1)
  local p = math.random(#paths > 0 and #paths or 1)
  function request()
    if #keys > 1 then
      n = n % #keys + 1
      wrk.headers["Authorization"] = "Bearer " .. keys[n]
    end
    local path = nil
    if #paths > 1 then
      p = p % #paths + 1
      path = paths[p]
    end
    return wrk.format(nil, path)
  end
end

-- No response() callback: defining one makes wrk parse every reply in Lua, which would slow the
-- load generator on the same cores as the servers. summary.errors.status already counts every
-- status >= 400, and nothing in this setup answers 3xx.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    e.status,
    e.connect + e.read + e.write + e.timeout,
    summary.requests))
end
