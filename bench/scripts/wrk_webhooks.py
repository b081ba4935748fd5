#!/usr/bin/env python3
"""Signed webhook deliveries driven by wrk, a load generator in C, to see what bench/'s own client costs the webhook cell.

bench/'s `webhooks` suite signs and sends every Creem delivery with .NET on the same two cores as the server and
PostgreSQL; it reports 190–320 µs of its own CPU per delivery. This sends the same deliveries (Creem's documented
`checkout.completed` sample, turned into a starter-pack purchase for one of 1,000 customers, a fresh event and order id
each, signed with HMAC-SHA256 as Creem signs) from a file that is written and signed before the round starts, so the
client's work per delivery is wrk's own. It also prices two floors of the server's path:

- "forged": one body with a wrong signature, answered 401 (HTTP, the body read and one HMAC; nothing stored);
- "duplicate": one signed delivery sent again and again, answered 200 as a duplicate (verified, parsed, one round trip
  to PostgreSQL that finds the event stored, and the stored event read back);
- "new": a fresh event each request (the `webhooks` cell's work).

    export TOLLGATE_TEST_POSTGRES="Host=localhost;Username=tollgate_ci;Password=tollgate_ci;Database=tollgate_ci"
    dotnet build -c Release src/Tollgate.Server -o /tmp/srv
    python3 bench/scripts/wrk_webhooks.py --server /tmp/srv/tollgate.dll --rounds healthz,forged,duplicate,new,new

Each round prints its rate, wrk's p50 and p99, and the CPU per request of the server and of every PostgreSQL process
(the postmaster's reaped children included, so autovacuum too; it reads /proc, so run it as root or as postgres). After
each "new" round it checks the books: every delivery answered 200 stored and applied once, and the 1,000 customers'
balances add up to 100 credits per applied event.
"""
import argparse
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webhook_pgbench import libpq_env, postgres_ticks, postmaster_pid  # noqa: E402
from wrk_usage import cpu_seconds, free_port, latency, psql, wait_ready  # noqa: E402

SECRET = b"whsec_bench_creem"  # bench/Tollgate.Bench/CreemDeliveries.cs
PACK, PACK_PRODUCT, PACK_CREDITS = "starter_pack", "prod_697ay0pXFXrBYEVC7HS0MR", 100
CUSTOMERS = 1000
HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "tests", "Tollgate.Testing", "Resources", "creem", "checkout.completed.json")


def template():
    """The sample as bench/'s CreemDeliveries turns it into a pack purchase, with @-placeholders for the ids."""
    with open(SAMPLE) as f:
        e = json.load(f)
    e["id"] = "@event"
    o = e["object"]
    o["id"] = o["request_id"] = "@checkout"
    o.pop("subscription", None)
    o["order"].update(id="@order", product=PACK_PRODUCT, type="onetime", amount=500, currency="USD")
    o["product"].update(id=PACK_PRODUCT, billing_type="onetime")
    o["metadata"] = {"tollgate_customer_id": "@customer", "tollgate_product": PACK}
    return json.dumps(e, separators=(",", ":"))


def delivery(body_template, run, n, customer):
    body = (body_template.replace("@event", f"evt_{run}_{n}").replace("@checkout", f"ch_{run}_{n}")
            .replace("@order", f"ord_{run}_{n}").replace("@customer", f"wh{customer}"))
    return hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest(), body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the server's tollgate.dll (a Release build)")
    parser.add_argument("--rounds", default="healthz,forged,duplicate,new")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-round", type=int, default=40000, help="fresh deliveries written for each 'new' round (more than it can send)")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of 'new' deliveries first, not reported")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt install wrk)")
    postgres = os.environ.get("TOLLGATE_TEST_POSTGRES")
    if not postgres:
        sys.exit("TOLLGATE_TEST_POSTGRES is not set")

    work = tempfile.mkdtemp(prefix="tollgate-wrkwh-")
    schema = "wrkwh_" + uuid.uuid4().hex[:12]
    psql(postgres, f"CREATE SCHEMA {schema}")
    env = dict(os.environ, Tollgate__ApiKeys__0="tg_bench_0123456789abcdef", Logging__LogLevel__Default="Warning",
               ASPNETCORE_ENVIRONMENT="Production", Tollgate__Database__Provider="postgres",
               Tollgate__Database__ConnectionString=f"{postgres};Search Path={schema}",
               Tollgate__Providers__Creem__ApiKey="creem_test_bench", Tollgate__Providers__Creem__WebhookSecret=SECRET.decode(),
               # Receiving webhooks calls nothing at Creem; an address that refuses makes sure of it.
               Tollgate__Providers__Creem__BaseUrl="http://127.0.0.1:9")
    port = free_port()
    server = subprocess.Popen(["dotnet", args.server, "--urls", f"http://127.0.0.1:{port}"], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body_template, run = template(), uuid.uuid4().hex[:8]
    state = {"n": 0, "applied": 0, "sent": 0}
    try:
        wait_ready(port)
        if args.warmup > 0:
            run_round(args, server.pid, port, "new", work, body_template, run, state, postgres, schema, seconds=args.warmup, report=False)
        print(f"{'round':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server µs/req':>14} {'postgres µs/req':>16}  books")
        for round_ in args.rounds.split(","):
            run_round(args, server.pid, port, round_, work, body_template, run, state, postgres, schema)
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
        psql(postgres, f"DROP SCHEMA {schema} CASCADE")


def run_round(args, pid, port, round_, work, body_template, run, state, postgres, schema, seconds=None, report=True):
    path = os.path.join(work, f"{round_}.txt")
    if round_ == "new":
        with open(path, "w") as f:
            for _ in range(args.per_round):
                state["n"] += 1
                f.write("%s %s\n" % delivery(body_template, run, state["n"], state["n"] % CUSTOMERS))
    elif round_ in ("forged", "duplicate"):
        # Every thread sends the one delivery again and again (a line each, so thread i has one).
        sig, body = delivery(body_template, run, f"{round_}-once", 0)
        if round_ == "forged":
            sig = "0" * len(sig)
        with open(path, "w") as f:
            f.write(f"{sig} {body}\n" * args.threads)
    elif round_ != "healthz":
        sys.exit(f"unknown round {round_}")
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds or args.seconds}s", "--latency"]
    if round_ == "healthz":
        command += [f"http://127.0.0.1:{port}/healthz"]
    else:
        command += ["-s", os.path.join(HERE, "wrk_webhooks.lua"), f"http://127.0.0.1:{port}", "--", path, str(args.threads)]
    postmaster = postmaster_pid()
    cpu, ticks = cpu_seconds(pid), postgres_ticks(postmaster)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    used, pg_used = cpu_seconds(pid) - cpu, (postgres_ticks(postmaster) - ticks) / os.sysconf("SC_CLK_TCK")
    rate = float(next(line for line in output.splitlines() if line.startswith("Requests/sec:")).split()[1])
    completed = int(next(line for line in output.splitlines() if "requests in" in line).split()[0])
    books = ""
    if round_ == "healthz":
        p50, p99 = latency(output, "50%"), latency(output, "99%")
    else:
        words = next(line for line in output.splitlines() if line.startswith("answers ")).split()
        ok, others, p50, p99, wrapped, sent = int(words[1]), int(words[2]), float(words[4]), float(words[6]), int(words[8]), int(words[10])
        expected = "401" if round_ == "forged" else "200"
        if (round_ == "forged" and ok > 0) or (round_ != "forged" and others > 0):
            raise SystemExit(f"{round_}: answers other than {expected}: {ok} 200, {others} other")
        if round_ == "new":
            if wrapped:
                raise SystemExit("new: wrk sent every delivery written for the round; raise --per-round")
            state["applied"] += ok
            state["sent"] += sent
            books = check_books(postgres, schema, state["applied"], state["sent"])
    if report:
        print(f"{round_:<10} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {1e6 * used / max(completed, 1):>14.0f} "
              f"{1e6 * pg_used / max(completed, 1):>16.0f}  {books}", flush=True)


def check_books(postgres, schema, answered, sent):
    """Every delivery answered 200 is stored and applied once, and granted its pack once; nothing is applied that was
    not sent. A delivery sent and not answered (wrk stopped, or its 2 s timeout passed) may have been applied or not."""
    query = (f"SELECT (SELECT count(*) FROM {schema}.webhook_events WHERE status = 'applied'), "
             f"(SELECT count(*) FROM {schema}.payments), "
             f"(SELECT coalesce(sum(amount), 0) FROM {schema}.ledger_entries WHERE type = 'grant')")
    out = subprocess.run(["psql", "-qAtF", " ", "-c", query], env=libpq_env(postgres), check=True, capture_output=True, text=True).stdout.split()
    applied, payments, granted = (int(x) for x in out)
    exact = answered <= applied <= sent and payments == applied and granted == PACK_CREDITS * applied
    books = f"{answered} answered 200 of {sent} sent in all; {applied} applied, {payments} payments, {granted} credits granted: {'exact' if exact else 'WRONG'}"
    if not exact:
        raise SystemExit("new: books do not add up: " + books)
    return books


if __name__ == "__main__":
    main()
