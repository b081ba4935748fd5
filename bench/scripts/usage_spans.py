#!/usr/bin/env python3
"""Where a usage's time goes over HTTP, from the server's own metrics (docs/benchmarks.md, "One connection: the
request's span against the ledger transaction's").

Starts the server with Prometheus metrics on a fresh PostgreSQL schema (or, with --sqlite, a fresh SQLite file), grants
one customer credits, warms up with wrk, and then runs --rounds rounds of wrk (POST /v1/usage of 1 credit for that one
customer, wrk_usage.lua) at --connections. Around each round it reads GET /metrics and prints, per usage:

  wrk          the rate, p50 and p99 the client saw
  request      the mean of ASP.NET Core's http.server.request.duration for POST /v1/usage: the server's span of the
               request, from its first byte read to its answer written
  ledger       the mean of tollgate.ledger.commit.duration, per batch: from the ledger transaction's connection taken
               to its commit (and notification) answered; with the mean batch size
  statements   PostgreSQL only, when pg_stat_statements is installed in the database: its execution time per usage,
               summed over every statement of the database in the round (so run it on an otherwise idle database). It
               counts no BEGIN/COMMIT (the commit's flush is not in it)
  server CPU   the server process's user + system CPU per usage

    export TOLLGATE_TEST_POSTGRES="Host=localhost;Username=tollgate_ci;Password=tollgate_ci;Database=tollgate_ci"
    dotnet build -c Release src/Tollgate.Server -o /tmp/srv
    python3 bench/scripts/usage_spans.py --server /tmp/srv/tollgate.dll --connections 1 --rounds 3
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid

import webhook_pgbench
import wrk_usage

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the server's tollgate.dll (a Release build)")
    parser.add_argument("--sqlite", action="store_true", help="a fresh SQLite file instead of PostgreSQL")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=6, help="seconds of usage first, not reported")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt install wrk)")

    postgres = None if args.sqlite else os.environ.get("TOLLGATE_TEST_POSTGRES")
    with wrk_usage.started(args.server, args.sqlite, "spans", Tollgate__Metrics__Prometheus="true") as (server, port):
        status, _ = wrk_usage.api(port, "POST", "/v1/customers/hot/grants",
                                  {"feature": "credits", "amount": wrk_usage.GRANT, "reason": "bench"}, key="spans-grant")
        assert status == 201, status
        run_wrk(args, port, args.warmup)
        print(f"{'database':<10} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'request ms':>10} {'ledger ms':>9} "
              f"{'batch':>6} {'statements ms':>13} {'server CPU µs':>13}")
        for _ in range(args.rounds):
            before, cpu, statements = metrics(port), wrk_usage.cpu_seconds(server.pid), statement_ms(postgres)
            rate, p50, p99, ok = run_wrk(args, port, args.seconds)
            after, used, statements = metrics(port), wrk_usage.cpu_seconds(server.pid) - cpu, diff(statement_ms(postgres), statements)
            request = mean(before, after, "http_server_request_duration_seconds", "/v1/usage")
            ledger = mean(before, after, "tollgate_ledger_commit_duration_seconds")
            batch = mean(before, after, "tollgate_ledger_batch_size")
            print(f"{'sqlite' if args.sqlite else 'postgres':<10} {args.connections:>5} {rate:>7.0f} {p50:>7.2f} {p99:>7.2f} "
                  f"{1e3 * request:>10.3f} {1e3 * ledger:>9.3f} {batch:>6.1f} "
                  f"{'—' if statements is None else f'{statements / max(ok, 1):.3f}':>13} {1e6 * used / max(ok, 1):>13.0f}", flush=True)


def run_wrk(args, port, seconds):
    command = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--latency", "-s", os.path.join(HERE, "wrk_usage.lua"),
               f"http://127.0.0.1:{port}", "--", "1", "s" + uuid.uuid4().hex[:8]]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(next(line for line in output.splitlines() if line.startswith("Requests/sec:")).split()[1])
    words = next(line for line in output.splitlines() if line.startswith("answers ")).split()
    if int(words[2]) != 0:
        raise SystemExit(f"answers other than 200: {words[2]}")
    return rate, float(words[4]), float(words[6]), int(words[1])


def metrics(port):
    """Every histogram's _sum and _count in GET /metrics, by name and labels."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    values = {}
    for line in text.splitlines():
        match = re.match(r"(\S+?_(?:sum|count))(\{.*\})? (\S+)$", line)
        if match:
            values[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return values


def mean(before, after, histogram, label=""):
    """The histogram's mean over the round, over the series whose labels contain label."""
    def total(values, suffix):
        return sum(v for (name, labels), v in values.items() if name == histogram + suffix and label in labels)
    count = total(after, "_count") - total(before, "_count")
    return (total(after, "_sum") - total(before, "_sum")) / count if count else float("nan")


def statement_ms(postgres):
    """pg_stat_statements' execution time summed over the database, in ms; None without the extension."""
    if not postgres:
        return None
    env = webhook_pgbench.libpq_env(postgres)
    result = subprocess.run(["psql", "-qAtc", "SELECT sum(total_exec_time) FROM pg_stat_statements WHERE dbid = "
                             "(SELECT oid FROM pg_database WHERE datname = current_database())"],
                            env=env, capture_output=True, text=True)
    return float(result.stdout) if result.returncode == 0 and result.stdout.strip() else None


def diff(after, before):
    return None if after is None or before is None else after - before


if __name__ == "__main__":
    main()
