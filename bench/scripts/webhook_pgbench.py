#!/usr/bin/env python3
"""PostgreSQL's own ceiling for webhook deliveries (docs/benchmarks.md, "PostgreSQL alone on one delivery's statements").

Replays one delivery's statements (webhook_delivery.pgbench.sql, captured from the server) with pgbench, prepared and
pipelined as the server sends them, with no Tollgate server running: what PostgreSQL can do on this machine with a
client far cheaper than the server. Variants drop or change statements, to price a change before building it:

  as_sent      the delivery as the server sends it
  inbox_once   the inbox row written once, with its outcome, before COMMIT (an existence check first, no UPDATE)
  no_load      the customer's ledger not loaded (no upsert, lock or six reads), as if written from known state
  both         inbox_once and no_load together
  known_in_flow  the ledger written from known state checked under the customer's lock: the lock and the key's lookup
               kept, no upsert and no other reads (what the server sends since 2026-12-07; a customer's first write still
               loads)
  no_outbox    without the two outbound events (their counter, rows, keys and deliveries): what they cost
  batched8     eight deliveries per transaction, each statement written once for the eight
               (webhook_delivery_batched8.pgbench.sql, hand-written): what batching across requests could give
  current      inbox_once and known_in_flow together: the statements the server sends since 2026-12-07, in the
               snapshot's round trips
  ctes         current's rows with each round trip's statements merged into one statement of data-modifying CTEs
               (webhook_delivery_ctes.pgbench.sql, hand-written): what PostgreSQL pays per statement rather than per row
  grouped8     eight deliveries per transaction, each with current's own statements inside a savepoint, one COMMIT for
               the eight: what sharing a commit gives without sharing statements
  floor        every statement replaced by SELECT 1, in the same round trips and transaction: what the protocol and
               the round trips alone cost
  one_trip     every statement in one pipeline, the notification before COMMIT: the round trips' share (a server
               cannot do this: it needs some answers before it sends the next statements)

Each run gets a fresh schema migrated by the server's own "migrate" verb, a --warmup of pgbench that fills its tables,
ANALYZE (so that plans are made, as on a database in use, with statistics: the batched sketch's lookups by a set of
ids were planned as scans on tables never analyzed), then pgbench for --seconds at --clients with new connections.
PostgreSQL's CPU is every postgres process's plus the postmaster's reaped children (backends that exited), so it
includes autovacuum; it needs /proc of the postgres processes (run as root or as the postgres user).

    export TOLLGATE_TEST_POSTGRES="Host=localhost;Username=tollgate_ci;Password=tollgate_ci;Database=tollgate_ci"
    dotnet build -c Release src/Tollgate.Server -o /tmp/srv
    python3 bench/scripts/webhook_pgbench.py --server /tmp/srv/tollgate.dll --clients 32 --seconds 10 --rounds 2
"""
import argparse
import glob
import os
import re
import subprocess
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PGBENCH = (sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench")) or ["pgbench"])[-1]

# What the bench's Creem delivery carries (CreemDeliveries), and the texts the server writes with it.
VARIABLES = {
    "payload": '{"id":"evt_854958b9_2976","eventType":"checkout.completed","created_at":1728734325927,"object":{"id":"ch_854958b9_2976","object":"checkout","request_id":"ch_854958b9_2976","order":{"id":"ord_854958b9_2976","customer":"cust_1OcIK1GEuVvXZwD19tjq2z","product":"prod_697ay0pXFXrBYEVC7HS0MR","amount":500,"currency":"USD","status":"paid","type":"onetime","created_at":"2024-10-12T11:58:33.097Z","updated_at":"2024-10-12T11:58:33.097Z","mode":"local"},"product":{"id":"prod_697ay0pXFXrBYEVC7HS0MR","name":"Monthly","description":"Monthly","image_url":null,"price":1000,"currency":"EUR","billing_type":"onetime","billing_period":"every-month","status":"active","tax_mode":"exclusive","tax_category":"saas","default_success_url":"","created_at":"2024-10-11T11:50:00.182Z","updated_at":"2024-10-11T11:50:00.182Z","mode":"local"},"customer":{"id":"cust_1OcIK1GEuVvXZwD19tjq2z","object":"customer","email":"customer@emaildomain","name":"Tester Test","country":"NL","created_at":"2024-10-11T09:16:48.557Z","updated_at":"2024-10-11T09:16:48.557Z","mode":"local"},"custom_fields":[],"status":"completed","metadata":{"tollgate_customer_id":"wh122","tollgate_product":"starter_pack"},"mode":"local"}}\n',
    "evpayload": '{"id":"evt_01a24d252b9c7e6fb12f0300f7c1d206","type":"payment.succeeded","created_at":"2026-12-06T20:56:51.356668Z",'
                 '"sequence":5,"data":{"payment_id":"pay_01a24d252b83743c981ed12fe083c006","provider":"creem","product":"starter_pack",'
                 '"kind":"pack","amount":500,"currency":"USD","subscription_id":null,"customer_id":"wh122"}}',
    # Texts with a colon are variables: pgbench would read ":creem" inside a literal as a variable.
    "payref": "payment:creem:ord_",
    "grantref": "grant:payment:creem:ord_",
    "detail": '{"lots":[{"lot_id":"lot_01a24d252bad7bd4991b2a4c1e7fc508","amount":100}]}',
    "result": '{"lot_id":"lot_01a24d252bad7bd4991b2a4c1e7fc508","entry_id":"ent_01a24d252bad7976bc75f9ba6605af9e","feature":"credits",'
              '"amount":100,"debt_repaid":0,"balance":300,"replayed":false,"succeeded":true}',
}

LOAD = ("SELECT ledger_version", "SELECT seq FROM", "SELECT customer_id, lot_id", "SELECT customer_id, hold_id", "SELECT feature, amount",
        "SELECT feature, level", "SELECT customer_id, operation_key", "INSERT INTO customers")
# The loads a flow's write from known state leaves out (it keeps the lock and the operation key's lookup).
KNOWN_IN_FLOW = ("SELECT seq FROM", "SELECT customer_id, lot_id", "SELECT customer_id, hold_id", "SELECT feature, amount", "SELECT feature, level",
                 "INSERT INTO customers")
OUTBOX = ("INSERT INTO events", "INSERT INTO event_counters", "INSERT INTO event_deliveries", "INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT k, 'event'")


def inbox_once(lines):
    insert = next(l for l in lines if l.startswith("INSERT INTO webhook_events"))
    final = insert.replace("'received', 0, now() + interval '1 minute', NULL, NULL, NULL)", "'applied', 1, NULL, NULL, now(), 'wh' || (:c::int))")
    assert final != insert, "the inbox insert changed: update inbox_once"
    out = []
    for line in lines:
        if line.startswith("INSERT INTO webhook_events"):
            out.append("SELECT 1 FROM webhook_events WHERE provider = 'creem' AND event_id = 'evt_' || (:n::bigint);")
        elif line.startswith("UPDATE webhook_events"):
            continue
        elif line == "COMMIT;":
            out += [final, line]
        else:
            out.append(line)
    return out


def read_script(name):
    """A script of this folder without its comment lines."""
    with open(os.path.join(HERE, name)) as f:
        return [l for l in f.read().split("\n") if not l.startswith("--")]


def one_trip(lines):
    sets = [l for l in lines if l.startswith("\\set")]
    body = [l for l in lines if l and not l.startswith("\\")]
    notify = [l for l in body if l.startswith("SELECT pg_notify")]
    body = [l for l in body if not l.startswith("SELECT pg_notify")]
    commit = body.index("COMMIT;")
    return sets + ["\\startpipeline"] + body[:commit] + notify + ["COMMIT;", "\\endpipeline"]


def floor(lines):
    return [l if not l or l.startswith("\\") or l in ("BEGIN;", "COMMIT;") else "SELECT 1;" for l in lines]


def grouped(lines, count=8):
    """count deliveries' own statements (current's) in one transaction, each inside a savepoint, one COMMIT."""
    sets = [l for l in lines if l.startswith("\\set")]
    body = [l for l in lines if not l.startswith("\\set") and not l.startswith("SELECT pg_notify")]
    notify = [l for l in lines if l.startswith("SELECT pg_notify")]
    out = []
    for i in range(count):
        rename = lambda l: re.sub(r":([cn])\b", lambda m: f":{m.group(1)}{i}", l)
        out += [rename(l).replace("\\set c", f"\\set c{i}").replace("\\set n", f"\\set n{i}") if l.startswith("\\set") else l for l in sets]
    for i in range(count):
        rename = lambda l: re.sub(r":([cn])\b", lambda m: f":{m.group(1)}{i}", l)
        for l in body:
            if l == "BEGIN;":
                out += (["BEGIN;"] if i == 0 else []) + ["SAVEPOINT d;"]
            elif l == "COMMIT;":
                out += ["RELEASE SAVEPOINT d;"] + (["COMMIT;"] if i == count - 1 else [])
            else:
                out.append(rename(l))
    out.append("\\startpipeline")
    for i in range(count):
        out += [re.sub(r":([cn])\b", lambda m: f":{m.group(1)}{i}", l) for l in notify]
    out.append("\\endpipeline")
    return out


VARIANTS = {
    "as_sent": lambda lines: lines,
    "inbox_once": inbox_once,
    "no_load": lambda lines: [l for l in lines if not l.startswith(LOAD)],
    "both": lambda lines: [l for l in inbox_once(lines) if not l.startswith(LOAD)],
    "known_in_flow": lambda lines: [l for l in lines if not l.startswith(KNOWN_IN_FLOW)],
    "no_outbox": lambda lines: [l for l in lines if not l.startswith(OUTBOX)],
    "one_trip": one_trip,
    "floor": floor,
    "batched8": lambda _: read_script("webhook_delivery_batched8.pgbench.sql"),
    "current": lambda lines: [l for l in inbox_once(lines) if not l.startswith(KNOWN_IN_FLOW)],
    "ctes": lambda _: read_script("webhook_delivery_ctes.pgbench.sql"),
    "grouped8": lambda lines: grouped([l for l in inbox_once(lines) if not l.startswith(KNOWN_IN_FLOW)]),
}

# Deliveries per pgbench transaction, where it is not one.
PER_TRANSACTION = {"batched8": 8, "grouped8": 8}


def libpq_env(connection_string):
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    get = lambda *names: next((v for k, v in parts.items() if k.strip().lower() in names), None)
    env = dict(os.environ)
    env.update({k: v for k, v in {"PGHOST": get("host", "server"), "PGPORT": get("port"), "PGUSER": get("username", "user id", "userid"),
                                   "PGPASSWORD": get("password"), "PGDATABASE": get("database", "db")}.items() if v})
    return env


def postmaster_pid():
    for path in glob.glob("/var/run/postgresql/*.pid") + glob.glob("/var/lib/postgresql/*/main/postmaster.pid"):
        with open(path) as f:
            return f.readline().strip()
    return ""


def postgres_ticks(postmaster):
    """User + system ticks of every postgres process, plus what the postmaster reaped from its exited children."""
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        if text[text.index("(") + 1:text.rindex(")")] != "postgres":
            continue
        fields = text[text.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
        if stat.split("/")[2] == postmaster:
            total += int(fields[13]) + int(fields[14])
    return total


def run(args, env, name, lines):
    schema = "pgb_" + uuid.uuid4().hex[:12]
    script = os.path.join("/tmp", f"{schema}.sql")
    subprocess.run(["psql", "-q", "-c", f"CREATE SCHEMA {schema}"], env=env, check=True)
    try:
        server_env = dict(os.environ, Tollgate__Database__Provider="postgres",
                          Tollgate__Database__ConnectionString=args.postgres.rstrip(";") + f";Search Path={schema}")
        subprocess.run(["dotnet", args.server, "migrate"], env=server_env, check=True, stdout=subprocess.DEVNULL)
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        pgbench_env = dict(env, PGOPTIONS=f"-c search_path={schema}")

        def pgbench(seconds):
            command = [PGBENCH, "-n", "-M", "prepared", "-c", str(args.clients), "-j", "2", "-T", str(seconds), "-f", script]
            for key, value in VARIABLES.items():
                command += ["-D", f"{key}={value}"]
            return subprocess.run(command, env=pgbench_env, capture_output=True, text=True)

        if args.warmup > 0:
            warm = pgbench(args.warmup)
            if warm.returncode != 0:
                raise SystemExit(warm.stdout + warm.stderr)
            subprocess.run(["psql", "-q", "-c", "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = "
                            "current_schema() LOOP EXECUTE format('ANALYZE %I', t); END LOOP; END $$"], env=pgbench_env, check=True)
        postmaster = postmaster_pid()
        # The backends of the previous connections exit when their client does, and their CPU moves to the postmaster's
        # reaped-children count only once it has reaped them: give it a moment on each side of the measured run.
        time.sleep(1)
        ticks, started = postgres_ticks(postmaster), os.times()
        out = pgbench(args.seconds)
        time.sleep(1)
        ended = os.times()
        used = postgres_ticks(postmaster) - ticks
        if out.returncode != 0:
            raise SystemExit(out.stdout + out.stderr)
        per = PER_TRANSACTION.get(name, 1)
        tx = int(re.search(r"actually processed: (\d+)", out.stdout).group(1)) * per
        tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1)) * per
        failed = re.search(r"failed transactions: (\d+)", out.stdout)
        tick = os.sysconf("SC_CLK_TCK")
        client = (ended.children_user + ended.children_system) - (started.children_user + started.children_system)
        statements = sum(1 for l in lines if l and not l.startswith(("\\", "--")))
        print(f"| {name} | {statements} | {tps:,.0f} | {used / tick / tx * 1e6:,.0f} | {client / tx * 1e6:,.0f} | {failed.group(1) if failed else '?'} |", flush=True)
    finally:
        if os.path.exists(script):
            os.remove(script)
        subprocess.run(["psql", "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], env=env, check=True, stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="tollgate.dll of a Release build (for its migrate verb)")
    parser.add_argument("--postgres", default=os.environ.get("TOLLGATE_TEST_POSTGRES", ""), help="Npgsql connection string")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of pgbench before ANALYZE and the measured run")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("--postgres or TOLLGATE_TEST_POSTGRES is required")
    env = libpq_env(args.postgres)
    base = read_script("webhook_delivery.pgbench.sql")
    print(f"pgbench, {args.clients} clients, {args.seconds} s per run, prepared; each run on a fresh schema")
    print("| variant | statements per transaction | deliveries/s | PostgreSQL CPU µs per delivery | pgbench CPU µs per delivery | failed |")
    print("|---|---:|---:|---:|---:|---:|")
    for _ in range(args.rounds):
        for name in args.variants.split(","):
            run(args, env, name, VARIANTS[name](base))
            time.sleep(2)


if __name__ == "__main__":
    main()
