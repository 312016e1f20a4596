-- Two sliding windows (per minute, per day) checked and counted in one atomic step.
-- Each window is a hash of small time buckets: bucket index -> calls in it. The buckets counted
-- are every one that overlaps the last window length, so no true sliding window ever holds more
-- than the limit (a call may be refused up to one bucket early, never admitted late).
-- KEYS[1] minute hash, KEYS[2] day hash
-- ARGV[1] now (ms), ARGV[2] per-minute limit, ARGV[3] per-day limit, ARGV[4] calls (a batch's
-- tools/call envelopes, at least 1): they pass together or not at all.
-- Returns {allowed (1|0), retry-after ms, refusing window (1 minute | 2 day | 0 none), then for the
-- minute and the day: calls counted (this one included when allowed), ms until the oldest of them
-- leaves the window}; refused calls are not counted.

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

-- Both windows are read before either decides, so that an answer can say what is left in each.
local states = {}
for w, spec in ipairs(windows) do
  local total, buckets, current = tally(spec[1], spec[2], spec[3])
  states[w] = {total = total, buckets = buckets, current = current}
end

-- When the oldest call still counted leaves the window (ms from now; 0 when none is counted).
local function reset_ms(buckets, bucket_ms, window_ms, counted_now)
  local oldest = nil
  for _, bucket in ipairs(buckets) do
    if oldest == nil or bucket[1] < oldest then oldest = bucket[1] end
  end
  if oldest == nil then
    if not counted_now then return 0 end
    oldest = math.floor(now / bucket_ms)
  end
  return (oldest + math.floor(window_ms / bucket_ms) + 1) * bucket_ms - now
end

local refused = 0
local retry = 0
for w, spec in ipairs(windows) do
  local state = states[w]
  if refused == 0 and state.total + calls > spec[4] then
    refused = w
    retry = wait_ms(state.total, spec[4], state.buckets, spec[2], spec[3])
  end
end

local answer = {refused == 0 and 1 or 0, retry, refused}
for w, spec in ipairs(windows) do
  local state = states[w]
  if refused == 0 then
    redis.call('HINCRBY', spec[1], tostring(state.current), calls)
    redis.call('PEXPIRE', spec[1], spec[3] + spec[2])
    state.total = state.total + calls
  end
  answer[#answer + 1] = state.total
  answer[#answer + 1] = reset_ms(state.buckets, spec[2], spec[3], refused == 0)
end
return answer
