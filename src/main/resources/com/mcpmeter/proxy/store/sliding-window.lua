-- Two sliding windows (per minute, per day) checked and counted in one atomic step, for one or
-- more calls of one subject, decided one after another in the order given: each exactly as if it
-- had been a script call of its own (a single call is a batch of one).
-- Each window is a hash of small time buckets: bucket index -> calls in it. The buckets counted
-- are every one that overlaps the last window length, so no true sliding window ever holds more
-- than the limit (a call may be refused up to one bucket early, never admitted late).
-- KEYS[1] minute hash, KEYS[2] day hash (one subject's: a script call never spans two subjects)
-- ARGV, four per call: now (ms), per-minute limit, per-day limit, calls (a batch's tools/call
-- envelopes, at least 1): a call's envelopes pass together or not at all.
-- Returns, seven per call: allowed (1|0), retry-after ms, refusing window (1 minute | 2 day |
-- 0 none), then for the minute and the day: calls counted (this one included when allowed), ms
-- until the oldest of them leaves the window; refused calls are not counted.

-- Each hash is read once; the calls then work on this copy, and only the buckets they changed
-- (counted into, or dropped as too old) are written back at the end.
local function load(key, bucket_ms, window_ms)
  local held = {}
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    held[tonumber(fields[i])] = tonumber(fields[i + 1])
  end
  return {key = key, bucket_ms = bucket_ms, window_ms = window_ms, held = held, changed = {}}
end

local windows = {load(KEYS[1], 1000, 60000), load(KEYS[2], 900000, 86400000)}

-- Drops the buckets that no longer overlap the window ending at now; returns the calls in the
-- rest, those buckets as {index, calls}, and now's bucket.
local function tally(window, now)
  local current = math.floor(now / window.bucket_ms)
  local oldest = current - math.floor(window.window_ms / window.bucket_ms)
  local total = 0
  local buckets = {}
  for index, calls in pairs(window.held) do
    if index < oldest then
      window.held[index] = nil
      window.changed[index] = true
    else
      total = total + calls
      buckets[#buckets + 1] = {index, calls}
    end
  end
  return total, buckets, current
end

-- How long until enough old buckets fall out of the window for the calls to fit. Calls that can
-- never fit (more than the limit) get one bucket width, as a limit of 0 does.
local function wait_ms(now, calls, total, limit, buckets, bucket_ms, window_ms)
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

-- When the oldest call still counted leaves the window (ms from now; 0 when none is counted).
local function reset_ms(now, buckets, bucket_ms, window_ms, counted_now)
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

local answer = {}
local counted = false
for first = 1, #ARGV, 4 do
  local now = tonumber(ARGV[first])
  local limits = {tonumber(ARGV[first + 1]), tonumber(ARGV[first + 2])}
  local calls = tonumber(ARGV[first + 3])

  -- Both windows are read before either decides, so that an answer can say what is left in each.
  local states = {}
  for w, window in ipairs(windows) do
    local total, buckets, current = tally(window, now)
    states[w] = {total = total, buckets = buckets, current = current}
  end

  local refused = 0
  local retry = 0
  for w, window in ipairs(windows) do
    local state = states[w]
    if refused == 0 and state.total + calls > limits[w] then
      refused = w
      retry = wait_ms(now, calls, state.total, limits[w], state.buckets, window.bucket_ms, window.window_ms)
    end
  end

  answer[#answer + 1] = refused == 0 and 1 or 0
  answer[#answer + 1] = retry
  answer[#answer + 1] = refused
  for w, window in ipairs(windows) do
    local state = states[w]
    if refused == 0 then
      window.held[state.current] = (window.held[state.current] or 0) + calls
      window.changed[state.current] = true
      state.total = state.total + calls
      counted = true
    end
    answer[#answer + 1] = state.total
    answer[#answer + 1] = reset_ms(now, state.buckets, window.bucket_ms, window.window_ms, refused == 0)
  end
end

for _, window in ipairs(windows) do
  local set, gone = {}, {}
  for index in pairs(window.changed) do
    local calls = window.held[index]
    if calls then
      set[#set + 1] = tostring(index)
      set[#set + 1] = calls
    else
      gone[#gone + 1] = tostring(index)
    end
  end
  if #gone > 0 then redis.call('HDEL', window.key, unpack(gone)) end
  if #set > 0 then redis.call('HSET', window.key, unpack(set)) end
  -- A window lives a bucket longer than its length after its last count, so no count is lost early.
  if counted then redis.call('PEXPIRE', window.key, window.window_ms + window.bucket_ms) end
end
return answer
