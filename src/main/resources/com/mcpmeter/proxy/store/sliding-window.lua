-- Two sliding windows (per minute, per day) checked and counted in one atomic step.
-- Each window is a hash of small time buckets: bucket index -> calls in it. The buckets counted
-- are every one that overlaps the last window length, so no true sliding window ever holds more
-- than the limit (a call may be refused up to one bucket early, never admitted late).
-- KEYS[1] minute hash, KEYS[2] day hash
-- ARGV[1] now (ms), ARGV[2] per-minute limit, ARGV[3] per-day limit, ARGV[4] calls (a batch's
-- tools/call envelopes, at least 1): they pass together or not at all.
-- Returns {allowed (1|0), retry-after ms, window (1 minute | 2 day)}; refused calls are not counted.

local now = tonumber(ARGV[1])
local calls = tonumber(ARGV[4])

local function tally(key, bucket_ms, window_ms)
  local current = math.floor(now / bucket_ms)
  local oldest = current - math.floor(window_ms / bucket_ms)
  local fields = redis.call('HGETALL', key)
  local buckets = {}
  local total = 0
  for i = 1, #fields, 2 do
    local index = tonumber(fields[i])
    if index < oldest then
      redis.call('HDEL', key, fields[i])
    else
      local calls = tonumber(fields[i + 1])
      total = total + calls
      buckets[#buckets + 1] = {index, calls}
    end
  end
  return total, buckets, current, oldest
end

-- How long until enough old buckets fall out of the window for the calls to fit. Calls that can
-- never fit (more than the limit) get one bucket width, as a limit of 0 does.
local function wait_ms(total, limit, buckets, bucket_ms, window_ms)
  table.sort(buckets, function(a, b) return a[1] < b[1] end)
  local span = math.floor(window_ms / bucket_ms)
  for _, bucket in ipairs(buckets) do
    total = total - bucket[2]
    if total + calls <= limit then
      return (bucket[1] + span + 1) * bucket_ms - now
    end
  end
  return bucket_ms
end

local windows = {
  {KEYS[1], 1000, 60000, tonumber(ARGV[2])},
  {KEYS[2], 900000, 86400000, tonumber(ARGV[3])},
}

local currents = {}
for w, spec in ipairs(windows) do
  local total, buckets, current = tally(spec[1], spec[2], spec[3])
  if total + calls > spec[4] then
    return {0, wait_ms(total, spec[4], buckets, spec[2], spec[3]), w}
  end
  currents[w] = current
end

for w, spec in ipairs(windows) do
  redis.call('HINCRBY', spec[1], tostring(currents[w]), calls)
  redis.call('PEXPIRE', spec[1], spec[3] + spec[2])
end
return {1, 0, 0}
