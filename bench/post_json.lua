-- wrk script for bench/run.sh: POST the JSON body in $BENCH_BODY, with
-- "Authorization: Bearer $BENCH_TOKEN" when that is set (the gateway's /chat/tool).
-- At the end it prints one line "BENCH_JSON {...}" with the counts and latency
-- percentiles (microseconds), which run.sh keeps. `status_errors` is wrk's count of
-- responses with a status >= 400 (there are no 1xx/3xx here, so: non-2xx).
--
--   BENCH_BODY='{"tool":"compose_ps","args":{...}}' BENCH_TOKEN=... \
--     wrk -t1 -c64 -d10s -s bench/post_json.lua http://127.0.0.1:PORT/chat/tool

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
