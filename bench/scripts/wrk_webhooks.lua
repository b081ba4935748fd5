-- Signed Creem deliveries to POST /webhooks/creem, for wrk (bench/scripts/wrk_webhooks.py drives it).
-- wrk ... -s wrk_webhooks.lua <url> -- <deliveries file> <threads>
-- The file holds one delivery per line: "<creem-signature> <body>". Thread i of n sends lines i, i+n, i+2n, ... once
-- each (a fresh event per request) and then stops sending new ones: it wraps around, so the driver writes more lines
-- than a round can send, and counts a wrap as a failure. A file of one line sends that delivery again and again (a
-- duplicate from the second request on).
-- Prints one line at the end: "answers <200s> <others> p50_ms <p50> p99_ms <p99> wrapped <n> sent <requests>", which the
-- driver parses. A request sent and not answered (wrk stopped, or its timeout passed) may still have been applied.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  deliveries = {}
  local n = 0
  for line in io.lines(path) do
    if n % count == id then
      local space = line:find(" ", 1, true)
      table.insert(deliveries, { line:sub(1, space - 1), line:sub(space + 1) })
    end
    n = n + 1
  end
  ok, other, next_index, wrapped, sent = 0, 0, 0, 0, 0
end

function request()
  sent = sent + 1
  next_index = next_index + 1
  if next_index > #deliveries then
    next_index = 1
    wrapped = wrapped + 1
  end
  local d = deliveries[next_index]
  return wrk.format("POST", "/webhooks/creem", {
    ["Content-Type"] = "application/json",
    ["creem-signature"] = d[1],
  }, d[2])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local answered, others, wraps, total = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    answered = answered + thread:get("ok")
    others = others + thread:get("other")
    wraps = wraps + thread:get("wrapped")
    total = total + thread:get("sent")
  end
  io.write(string.format("answers %d %d p50_ms %.2f p99_ms %.2f wrapped %d sent %d\n", answered, others,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, wraps, total))
end
