-- wrk script: POST a GraphQL body (from env GQL_BODY) and print machine-readable stats.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("EXO_TOKEN")
wrk.body = os.getenv("GQL_BODY")

-- A body with `__ID__` gets a random todo id (1..1000) per request, like pgbench's
-- `\set id random(1, 1000)` on the floor side.
if wrk.body:find("__ID__", 1, true) then
  local template = wrk.body
  function init(args)
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  end
  function request()
    local body = template:gsub("__ID__", tostring(math.random(1, 1000)))
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
