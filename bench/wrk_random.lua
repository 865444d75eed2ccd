-- wrk script: every request picks at random, so a server cannot answer a repeated URL
-- from a cache, and ends with a one-line JSON summary (latencies in milliseconds).
--   WRK_PATHS   file of request paths with their query strings, one per line, already
--               URL-encoded ("/api/v1/watches/17"); each request takes one at random.
--               Without it every request asks for the URL given to wrk.
--   WRK_TOKENS  file of bearer tokens, one per line; each request carries one at random.
--   WRK_DELAY_MS  each connection waits this long between its requests (a steady load
--               below saturation, where latency is the server's rather than the queue's).
--   WRK_BODY    a JSON body: the requests become POSTs, and every "%UNIQUE%" in it is
--               replaced by a value no other request of the run carries (a client_id).
-- Requests are built once in init() when only one of the two varies, so the client spends
-- as little CPU per request as it can on the two cores it shares with the servers.
-- "non2xx" is wrk's status error count: responses with a status of 400 or more.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local function read_lines(path)
  local lines = {}
  local file = io.open(path, "r")
  if not file then
    error("cannot open " .. path)
  end
  for line in file:lines() do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  file:close()
  if #lines == 0 then
    error(path .. " holds no lines")
  end
  return lines
end

local paths, tokens, prepared, body
local sent = 0

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
  local paths_file = os.getenv("WRK_PATHS")
  local tokens_file = os.getenv("WRK_TOKENS")
  paths = (paths_file and paths_file ~= "") and read_lines(paths_file) or { wrk.path }
  tokens = (tokens_file and tokens_file ~= "") and read_lines(tokens_file) or nil
  body = os.getenv("WRK_BODY")
  if body == "" then
    body = nil
  end
  if body then
    return
  end
  if not tokens then
    prepared = {}
    for i, path in ipairs(paths) do
      prepared[i] = wrk.format(nil, path)
    end
  elseif #paths == 1 then
    prepared = {}
    for i, token in ipairs(tokens) do
      prepared[i] = wrk.format(nil, paths[1], { Authorization = "Bearer " .. token })
    end
  end
end

local function post()
  sent = sent + 1
  local unique = (thread_number or 0) .. "-" .. sent .. "-" .. os.time()
  local headers = { ["Content-Type"] = "application/json" }
  if tokens then
    headers.Authorization = "Bearer " .. tokens[math.random(#tokens)]
  end
  return wrk.format("POST", paths[math.random(#paths)], headers, (body:gsub("%%UNIQUE%%", unique)))
end

local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pause then
  function delay()
    -- spread evenly around the pause, so connections do not move in step
    return math.random(0, 2 * pause)
  end
end

function request()
  if body then
    return post()
  end
  if prepared then
    return prepared[math.random(#prepared)]
  end
  local token = tokens[math.random(#tokens)]
  return wrk.format(nil, paths[math.random(#paths)], { Authorization = "Bearer " .. token })
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'JSON {"requests":%d,"seconds":%.3f,"rps":%.2f,"bytes":%d,' ..
    '"lat_mean_ms":%.3f,"lat_p50_ms":%.3f,"lat_p90_ms":%.3f,"lat_p99_ms":%.3f,"lat_max_ms":%.3f,' ..
    '"non2xx":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
