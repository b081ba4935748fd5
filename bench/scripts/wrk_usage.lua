-- POST /v1/usage of 1 credit with a fresh Idempotency-Key each, for wrk (bench/scripts/wrk_usage.py drives it).
-- wrk ... -s wrk_usage.lua <url> -- <customers> <key prefix>
-- customers: 1 sends every usage for customer "hot"; N > 1 picks one of c0 … c(N-1) at random per request.
-- Prints one line at the end: "answers <200s> <others> p50_ms <p50> p99_ms <p99>", which the driver parses.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  customers = tonumber(args[1] or "1")
  prefix = args[2] or "wrk"
  ok, other, sent = 0, 0, 0
  math.randomseed(os.time() * 1000 + id)
end

function request()
  sent = sent + 1
  local customer = customers == 1 and "hot" or ("c" .. math.random(0, customers - 1))
  return wrk.format("POST", "/v1/usage", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer tg_bench_0123456789abcdef",
    ["Idempotency-Key"] = prefix .. "-" .. id .. "-" .. sent,
  }, '{"customer_id":"' .. customer .. '","feature":"credits","amount":1}')
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local answered, others = 0, 0
  for _, thread in ipairs(threads) do
    answered = answered + thread:get("ok")
    others = others + thread:get("other")
  end
  io.write(string.format("answers %d %d p50_ms %.2f p99_ms %.2f\n", answered, others,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
