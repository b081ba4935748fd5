#!/usr/bin/env python3
"""Whether one customer's writes slow down as its settled holds pile up (docs/benchmarks.md, "A hold load that grew").

Against a running server (any database) whose API key is tg_bench_0123456789abcdef, e.g. on a fresh SQLite file:

    Tollgate__Database__Provider=sqlite Tollgate__Database__ConnectionString="Data Source=/tmp/holds.db" \
      Tollgate__ApiKeys__0=tg_bench_0123456789abcdef ASPNETCORE_ENVIRONMENT=Production \
      dotnet src/Tollgate.Server/bin/Release/net10.0/tollgate.dll --urls http://127.0.0.1:5601 &
    python3 bench/scripts/holds_growth.py 5601 --rounds usage,hold,usage,hold,hold,usage --threads 8 --seconds 8

Grants one customer a billion credits, then runs each round for --seconds with --threads keep-alive connections:
"usage" is POST /v1/usage of 1 credit, "hold" one cycle of POST /v1/holds of 2 and its settle of 1 (each cycle leaves a
settled hold). Prints each round's rate and p50; with --pid, the server's CPU per operation too. A flat rate across the
rounds is the expected result; one that falls round after round is a cost that grows with the customer's closed holds.
The client is Python (http.client), so its own cost caps the rates: compare rounds with each other, not with bench/.
"""
import argparse
import http.client
import json
import os
import threading
import time
import uuid

KEY = "tg_bench_0123456789abcdef"


def call(connection, method, path, body, key=None):
    headers = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    connection.request(method, path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def run_round(port, customer, mode, threads, seconds):
    stop = time.time() + seconds
    latencies, lock = [], threading.Lock()

    def work():
        connection = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        while time.time() < stop:
            started = time.perf_counter()
            if mode == "usage":
                status, body = call(connection, "POST", "/v1/usage", {"customer_id": customer, "feature": "credits", "amount": 1}, uuid.uuid4().hex)
                assert status == 200, (status, body)
            else:
                status, body = call(connection, "POST", "/v1/holds",
                                    {"customer_id": customer, "feature": "credits", "amount": 2, "ttl_seconds": 3600}, uuid.uuid4().hex)
                assert status == 201, (status, body)
                status, body = call(connection, "POST", f"/v1/holds/{json.loads(body)['id']}/settle", {"amount": 1})
                assert status == 200, (status, body)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    latencies.sort()
    return len(latencies), latencies[len(latencies) // 2] * 1000 if latencies else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--rounds", default="usage,hold,usage,hold,hold,usage")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--pid", type=int, help="the server's process id, to report its CPU per operation")
    args = parser.parse_args()

    customer = "holds-growth-" + uuid.uuid4().hex[:8]
    status, body = call(http.client.HTTPConnection("127.0.0.1", args.port), "POST", f"/v1/customers/{customer}/grants",
                        {"feature": "credits", "amount": 1_000_000_000, "reason": "bench"}, "grant-" + customer)
    assert status == 201, (status, body)
    hz = os.sysconf("SC_CLK_TCK")
    for mode in args.rounds.split(","):
        before = cpu_ticks(args.pid) if args.pid else 0
        count, p50 = run_round(args.port, customer, mode, args.threads, args.seconds)
        line = f"{mode:5} {count / args.seconds:8.0f}/s  p50 {p50:6.2f} ms"
        if args.pid:
            line += f"  server CPU {(cpu_ticks(args.pid) - before) / hz * 1e6 / max(1, count):6.0f} µs per {'cycle' if mode == 'hold' else 'usage'}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
