#!/usr/bin/env python3
"""Usage over HTTP driven by wrk, a load generator in C, to cross-check bench/ (docs/benchmarks.md, "wrk").

bench/ drives the server with .NET's HttpClient on the same two cores as the server and the database. This runs the
same kind of cells with wrk, the tool issue 10 first measured with, so that a figure that depends on the load
generator shows up as a difference between the two.

    export TOLLGATE_TEST_POSTGRES="Host=localhost;Username=tollgate_ci;Password=tollgate_ci;Database=tollgate_ci"
    dotnet build -c Release src/Tollgate.Server -o /tmp/srv
    python3 bench/scripts/wrk_usage.py --server /tmp/srv/tollgate.dll --rounds healthz,hot,spread,spread,hot --seconds 8

It starts the server on a fresh PostgreSQL schema (or, with --sqlite, a fresh SQLite file), grants "hot" and c0 …
c999 credits through the API, warms the server up (--warmup: hot, then spread usage, not reported), and runs each round with wrk (-t2 -c64 by default): "healthz" is GET /healthz, "hot"
POST /v1/usage of 1 credit for one customer, "spread" the same for a random one of the 1,000. After each usage round it
reads the customers' balances: the credits taken must lie between the usages answered 200 and the usages sent (wrk
stops with some requests sent and not yet answered, which the server may still commit). Prints each round's rate,
wrk's p50 and p99, and the server's CPU per request.
"""
import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

KEY = "tg_bench_0123456789abcdef"
GRANT = 100_000_000
SPREAD = 1000
HERE = os.path.dirname(os.path.abspath(__file__))


def api(port, method, path, body=None, key=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", "Bearer " + KEY)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read() or b"null")


def available(port, customers):
    total = 0
    for customer in customers:
        _, body = api(port, "GET", f"/v1/customers/{customer}/balances")
        total += next(b["available"] for b in body["balances"] if b["feature"] == "credits")
    return total


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the server's tollgate.dll (a Release build)")
    parser.add_argument("--sqlite", action="store_true", help="a fresh SQLite file instead of PostgreSQL")
    parser.add_argument("--rounds", default="healthz,hot,spread")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10, help="seconds of hot and then spread usage first, not reported")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt install wrk)")

    with started(args.server, args.sqlite, "wrk") as (server, port):
        customers = ["hot"] + [f"c{i}" for i in range(SPREAD)]
        for customer in customers:
            status, _ = api(port, "POST", f"/v1/customers/{customer}/grants", {"feature": "credits", "amount": GRANT, "reason": "bench"},
                            key=f"wrk-grant-{customer}")
            assert status == 201, status
        if args.warmup > 0:
            for round_ in ("hot", "spread"):
                run_round(args, server.pid, port, round_, -1, "", seconds=max(1, args.warmup // 2), report=False)
        print(f"{'database':<10} {'round':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU µs/req':>18}  books")
        for n, round_ in enumerate(args.rounds.split(",")):
            run_round(args, server.pid, port, round_, n, "sqlite" if args.sqlite else "postgres")


@contextlib.contextmanager
def started(dll, sqlite, prefix, **settings):
    """The server (a Release tollgate.dll) on a fresh SQLite file or PostgreSQL schema (TOLLGATE_TEST_POSTGRES), with the
    bench's API key and any more settings, ready: yields the process and its port; kills it and drops what it made."""
    work = tempfile.mkdtemp(prefix=f"tollgate-{prefix}-")
    env = dict(os.environ, Tollgate__ApiKeys__0=KEY, Logging__LogLevel__Default="Warning", ASPNETCORE_ENVIRONMENT="Production", **settings)
    postgres = None if sqlite else os.environ.get("TOLLGATE_TEST_POSTGRES")
    schema = None
    if sqlite:
        env.update(Tollgate__Database__Provider="sqlite", Tollgate__Database__ConnectionString=f"Data Source={work}/tollgate.db")
    else:
        if not postgres:
            sys.exit("TOLLGATE_TEST_POSTGRES is not set (or pass --sqlite)")
        schema = f"{prefix}_" + uuid.uuid4().hex[:12]
        psql(postgres, f"CREATE SCHEMA {schema}")
        env.update(Tollgate__Database__Provider="postgres", Tollgate__Database__ConnectionString=f"{postgres};Search Path={schema}")

    port = free_port()
    server = subprocess.Popen(["dotnet", dll, "--urls", f"http://127.0.0.1:{port}"], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        yield server, port
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
        if schema:
            psql(postgres, f"DROP SCHEMA {schema} CASCADE")


def run_round(args, pid, port, round_, n, database, seconds=None, report=True):
    usage = round_ in ("hot", "spread")
    if round_ not in ("healthz", "hot", "spread"):
        sys.exit(f"unknown round {round_}")
    customers = (["hot"] if round_ == "hot" else [f"c{i}" for i in range(SPREAD)]) if usage else []
    before = available(port, customers) if usage else 0
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds or args.seconds}s", "--latency"]
    if usage:
        command += ["-s", os.path.join(HERE, "wrk_usage.lua"), f"http://127.0.0.1:{port}", "--",
                    "1" if round_ == "hot" else str(SPREAD), f"r{n}-{uuid.uuid4().hex[:8]}"]
    else:
        command += [f"http://127.0.0.1:{port}/healthz"]
    cpu = cpu_seconds(pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(pid) - cpu
    rate = float(next(line for line in output.splitlines() if line.startswith("Requests/sec:")).split()[1])
    completed = int(next(line for line in output.splitlines() if "requests in" in line).split()[0])
    if usage:
        words = next(line for line in output.splitlines() if line.startswith("answers ")).split()
        ok, others, p50, p99 = int(words[1]), int(words[2]), float(words[4]), float(words[6])
        taken = before - available(port, customers)
        # A refused usage takes nothing; wrk stops with at most one request per connection sent and not answered.
        exact = others == 0 and ok <= taken <= ok + args.connections
        books = f"{ok} answered 200, {others} other, credits taken {taken}: {'consistent' if exact else 'WRONG'}"
        if not exact:
            raise SystemExit(f"{round_}: books do not add up: {books}")
    else:
        p50, p99 = (latency(output, "50%"), latency(output, "99%"))
        books = ""
    if report:
        print(f"{database:<10} {round_:<8} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {1e6 * used / max(completed, 1):>18.0f}  {books}", flush=True)


def latency(output, percentile):
    line = next(l for l in output.splitlines() if l.strip().startswith(percentile))
    value = line.split()[1]
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


def wait_ready(port):
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    raise SystemExit("the server did not start")


def psql(connection_string, sql):
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    env = dict(os.environ, PGPASSWORD=parts.get("Password", ""), PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", "-h", parts.get("Host", "localhost"), "-U", parts.get("Username", "postgres"), "-d", parts.get("Database", "postgres"),
                    "-qc", sql], env=env, check=True)


if __name__ == "__main__":
    main()
