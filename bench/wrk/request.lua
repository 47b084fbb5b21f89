-- One wrk script for every endpoint of bench/load.py, configured by environment variables:
--   BENCH_METHOD    GET or POST (default GET)
--   BENCH_HEADERS   file of "Name: value" lines sent with every request
--   BENCH_BODY      file holding the request body; in it @FAMILY@ and @DOB@ are replaced per
--                   request (a new patient each time: family name and date of birth vary)
--   BENCH_SESSIONS  file of session keys, one a line: each request uses the next key of this
--                   thread's share once (the form's final step consumes its draft), sent as
--                   "Cookie: sessionid=<key>; <BENCH_COOKIE>"
--   BENCH_COOKIE    extra cookies for BENCH_SESSIONS requests (the CSRF cookie)
-- done() prints one JSON line: requests, duration, errors and latency percentiles (in us).

local threads = {}
local counter = 0

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local FAMILY = {"Okafor", "Smith", "Jones", "Patel", "Nguyen", "Kowalski", "Hughes", "Green",
                "Martin", "Cooper", "Walker", "Wright", "Turner", "Baker", "Morgan", "Kelly"}

function init(args)
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  local headers = os.getenv("BENCH_HEADERS")
  if headers then
    for line in read(headers):gmatch("[^\r\n]+") do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      if name then wrk.headers[name] = value end
    end
  end
  local body = os.getenv("BENCH_BODY")
  template = body and read(body) or nil
  vary = template ~= nil and template:find("@FAMILY@", 1, true) ~= nil
  local sessions = os.getenv("BENCH_SESSIONS")
  keys = {}
  if sessions then
    local n, share = 0, tonumber(os.getenv("BENCH_THREADS") or "1")
    for line in read(sessions):gmatch("[^\r\n]+") do
      if n % share == id then table.insert(keys, line) end
      n = n + 1
    end
  end
  extra_cookie = os.getenv("BENCH_COOKIE") or ""
  counter = id * 1000003
end

function request()
  counter = counter + 1
  local headers = nil
  local body = template
  if #keys > 0 then
    local key = keys[(counter % #keys) + 1]
    -- wrk.format uses either the given headers or wrk.headers, not both.
    headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Cookie"] = "sessionid=" .. key .. "; " .. extra_cookie
  end
  if vary then
    -- 1940-01-01 plus up to 60 years: family name x date of birth gives about 350,000 people.
    local dob = os.date("!%Y-%m-%d", -946771200 + (counter % 21900) * 86400)
    body = template:gsub("@FAMILY@", FAMILY[(counter % #FAMILY) + 1]):gsub("@DOB@", dob)
  end
  return wrk.format(nil, nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end
