-- wrk script for bench/run's HTTP comparison: closed loop (wrk sends a
-- connection's next request when the response arrives), each request an
-- oRPC RPC-protocol call, the same one @orpc/client's RPCLink makes:
--   POST /rpc/bench/echo   {"json":[123,"abcdefghijklmnop"]}
--
--   wrk -t1 -c64 -d5s -s bench/http/post.lua http://127.0.0.1:PORT/rpc/bench/echo -- [SIZE] [TOKEN]
-- SIZE pads the string argument (default 16); TOKEN is sent as
-- "Authorization: Bearer TOKEN" (moonhost with auth.required).
-- Answers other than 2xx/3xx count as errors_status (wrk's own count).
-- done() prints one line "WRKJSON {...}" that bench/run reads.
wrk.method = 'POST'
wrk.headers['Content-Type'] = 'application/json'

local function body(size)
  local chars = {}
  for i = 0, size - 1 do chars[#chars + 1] = string.char(97 + i % 26) end
  return '{"json":[123,"' .. table.concat(chars) .. '"]}'
end
wrk.body = body(16)

function init(args)
  if args[1] and args[1] ~= '' then wrk.body = body(tonumber(args[1])) end
  if args[2] and args[2] ~= '' then wrk.headers['Authorization'] = 'Bearer ' .. args[2] end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"mean_us":%.1f,"p50_us":%.1f,' ..
    '"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
