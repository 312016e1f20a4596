-- wrk script: one paid MCP tools/call, repeated.
-- The API key arrives in MCPMETER_KEY so it never sits in a file or on a command line; with no
-- key (the direct baseline in BENCH_DIRECT_ONLY mode) the header is simply left out.

local key = os.getenv("MCPMETER_KEY") or ""
-- MCPMETER_KEYS (comma-separated) spreads the calls over many consumers, as many agents would.
local keys = {}
for k in string.gmatch(os.getenv("MCPMETER_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = k
end

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

if #keys > 1 then
  local n = math.random(#keys)
  function request()
    n = n % #keys + 1
    wrk.headers["Authorization"] = "Bearer " .. keys[n]
    return wrk.format()
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
