-- wrk script of the catalog benchmark: plain GETs (no Lua runs per request) and a one-line
-- JSON summary at the end, latencies in milliseconds. "non2xx" is wrk's status error count
-- (responses with a status of 400 or more).
done = function(summary, latency, requests)
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
