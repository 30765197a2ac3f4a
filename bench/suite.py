#!/usr/bin/env python3
"""The HTTP half of `bench/run.sh`: every server of the comparison, the same scenarios, one run.

Each server runs pinned to core 0; the load (wrk, or `loadgen` for what wrk cannot measure)
runs pinned to core 1. Throughput scenarios run in rounds with the servers interleaved
(A B C ..., then ... C B A) and keep the median of the rounds; `--scenario` picks some of them
(`plaintext`, `json`, `pipelined`, `contract`: issue 12's validated POST through two
dependencies, served by kairos serve, axum and FastAPI, whose answers are checked to agree
before anything is measured; `items` (`items-sqlite`, `items-postgres`) and `cache`: issue 13's
`GET /items/{id}` over a seeded SQLite file and a real PostgreSQL (bench/databases.py), and
`GET /cached` on a cache hit, by the same three servers, checked the same way first). The behaviour scenarios
(sleeping routes, blocking routes, streams, outbound calls, CPU work) run once per server,
because their figures are set by the scenario (100 ms sleeps, 20 events at 100 ms), not by
the machine's speed.

Writes every measurement to `bench/out/http.json`; `bench/report.py` turns it into markdown.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from databases import ROWS, Postgres, rows, seed_sqlite

ROOT = Path(__file__).resolve().parent.parent
PORT = 18080
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE, LOAD_CORE = "0", "1"


@dataclass
class Server:
    """One server of the comparison: how to start it and what it serves."""

    name: str
    command: list
    # The benchmarked routes it serves; the floor serves only the two canned answers.
    full: bool = True
    # The pools behind /cpu (the Rust peers have no process pool).
    cpu_pools: tuple = ("process", "thread", "inline")
    # kairos exposes its stall detector's count at /debug/loop.
    stall_stats: bool = False
    # It serves POST /contract (issue 12: a validated body through two dependencies).
    contract: bool = False
    # It serves GET /items/{id} and GET /cached (issue 13). Its database comes from
    # --database-url (kairos serve) or $DATABASE_URL (the peers).
    data: bool = False
    database_flag: bool = False
    env: dict = field(default_factory=dict)


def servers(peers_bin, kairos_bin, kairos_before=None, kairos_workers=1):
    flags = ["serve", "--bind", f"127.0.0.1:{PORT}", "--log-level", "warn", "--workers", str(kairos_workers),
             "--jwt-secret", BENCH_JWT_SECRET]
    before = [] if kairos_before is None else [
        # Another build of kairos (say, the commit before a change), throughput rounds only.
        Server("kairos serve (before)", [kairos_before, *flags], full=False),
    ]
    return [
        Server("kairos serve", [kairos_bin, *flags], stall_stats=True, contract=True, data=True,
               database_flag=True),
        *before,
        Server("kairos-http (bare)", [f"{peers_bin}/peer_kairos_http", str(PORT)], full=False),
        Server("hyper (tokio, per-core current-thread)", [f"{peers_bin}/peer_hyper", str(PORT)],
               cpu_pools=("thread", "inline")),
        Server("axum (tokio multi-thread)", [f"{peers_bin}/peer_axum", str(PORT)],
               cpu_pools=("thread", "inline"), contract=True, data=True),
        Server("FastAPI (uvicorn, uvloop, httptools)",
               ["bash", str(ROOT / "bench/peers/fastapi/run.sh"), str(PORT)], contract=True,
               data=True),
        Server("bare-socket floor (epoll)", [f"{peers_bin}/peer_floor", str(PORT)], full=False),
    ]


# ---------------------------------------------------------------------------------------------
# Processes: start, stop, CPU time and memory of a server's whole process tree.

def descendants(pid):
    """`pid` and every process below it (uvicorn's workers, process pools)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid):
    """utime + stime of the server's process tree (all threads, all processes)."""
    total = 0
    for p in descendants(pid):
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLK_TCK


def db_cpu_seconds(pid):
    """The database's CPU time: its process tree's, plus what its exited children (backends of
    connections closed meanwhile) left in the postmaster's cutime + cstime."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    except OSError:
        reaped = 0.0
    return cpu_seconds(pid) + reaped


def memory_kib(pid, key):
    """Sum of `key` (VmRSS: now; VmHWM: peak) over the process tree, in KiB."""
    total = 0
    for p in descendants(pid):
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def wait_listening(port, proc, timeout=120.0):
    """Until the port accepts; FastAPI's first start builds its venv, hence the long wait."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start within {timeout} s")


class Running:
    """A started server; stops it (and its children) on exit."""

    def __init__(self, server, log, database_url=None):
        self.server = server
        env = dict(os.environ, **server.env)
        command = list(server.command)
        if database_url and server.data:
            if server.database_flag:
                command += ["--database-url", database_url]
            else:
                env["DATABASE_URL"] = database_url
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *command], env=env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_listening(PORT, self.proc)
        time.sleep(0.3)  # let lazily started threads settle before the idle reading

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        # Until the port is free again (a server in TIME_WAIT cleanup must not fail the next).
        time.sleep(0.5)

    @property
    def pid(self):
        return self.proc.pid


# ---------------------------------------------------------------------------------------------
# Load: wrk for throughput, loadgen for the rest.

def to_ms(value):
    """wrk prints latencies as 812.00us, 1.32ms, 2.00s or 1.05m."""
    match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if not match:
        return float("nan")
    number, unit = match.groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(path, connections, duration, pipeline=0, timeout_s=10, script=None, script_args=(),
        headers=()):
    """wrk's figures for `path`; `pipeline` requests per write (bench/pipeline.lua), or another
    Lua `script` of bench/ with its arguments; `headers` ("Name: value") on every request."""
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
           f"--timeout={timeout_s}s", "--latency", *(f"-H{h}" for h in headers)]
    if pipeline:
        script, script_args = "pipeline.lua", (str(pipeline),)
    if script:
        cmd += ["-s", str(ROOT / "bench" / script)]
    cmd.append(f"http://127.0.0.1:{PORT}{path}")
    if script_args:
        cmd += ["--", *script_args]
    for attempt in (1, 2):
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out = done.stdout
        if int(re.search(r"(\d+) requests in", out).group(1)) > 0:
            break
        # Nothing answered at all: say so, and try once more before recording a zero.
        print(f"wrk {path} c={connections}: no response (attempt {attempt}):\n{out}{done.stderr}",
              file=sys.stderr, flush=True)
        time.sleep(1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": to_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": to_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def loadgen(bin_dir, *args, timeout=300):
    cmd = ["taskset", "-c", LOAD_CORE, f"{bin_dir}/loadgen", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"loadgen {' '.join(map(str, args))} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def url(path):
    return f"http://127.0.0.1:{PORT}{path}"


def exchange(method, path, body=b"", headers=()):
    """One request on a new connection: (status, headers as a lowercase dict, body bytes)."""
    head = [f"{method} {path} HTTP/1.1", "Host: bench", "Connection: close",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers)]
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    raw_head, payload = data.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")
    fields = dict(line.split(":", 1) for line in lines[1:])
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    return int(lines[0].split()[1]), fields, payload


def dechunk(payload):
    out = b""
    while payload:
        size_line, payload = payload.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, payload = out + payload[:size], payload[size + 2:]
    return out


def get_json(path):
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


# ---------------------------------------------------------------------------------------------
# Scenarios.

# /bad and /good: how long each request blocks. Over asyncio's 100 ms slow-callback threshold
# (which kairos serve keeps), so that every blocking poll is one the stall detector must report.
BLOCK_MS = 150
BLOCK_CONNECTIONS = 16

THROUGHPUT = [(path, conns, pipeline) for pipeline in (0, 16) for path in ("/plaintext", "/json")
              for conns in (64, 256)]
SCENARIOS = ("plaintext", "json", "pipelined", "contract", "items", "items-sqlite",
             "items-postgres", "cache")
DATABASES = ("sqlite", "postgres")

# POST /contract (issue 12): ten constrained fields through two dependencies
# (crates/cli/src/service/contract.rs, bench/peers/src/bin/peer_axum/contract.rs and
# bench/peers/fastapi/app.py). The body wrk sends, and the one the check sends first; the bad
# one has three bad fields (email's pattern, quantity under 1, a channel not listed).
CONTRACT_CONNECTIONS = 64
CONTRACT_REQUEST_ID = "acme-5f3c9a1e7b2d4c60"
CONTRACT_BODY = json.dumps({
    "customer": "Ada Lovelace", "email": "ada@example.org", "quantity": 3, "unit_price": 19.99,
    "discount": 0.1, "priority": "high", "channel": "web", "tags": ["math", "engines"],
    "note": "leave it at the door", "gift": True}, separators=(",", ":"))
CONTRACT_BAD_BODY = json.dumps({
    "customer": "Ada Lovelace", "email": "ada at example", "quantity": 0, "unit_price": 19.99,
    "priority": "high", "channel": "fax", "tags": ["math"]}, separators=(",", ":"))
CONTRACT_SCENARIO = f"POST /contract c={CONTRACT_CONNECTIONS}"


# Issue 13: GET /items/{id} with a random id of the seeded 1..ROWS (bench/items.lua), on each
# database; GET /cached on a hit (the key loaded once by the check and the warm-up, its loader
# asked for 0 ms so that the one miss costs nothing).
ITEMS_CONNECTIONS = 64
CACHE_CONNECTIONS = 64
CACHE_PATH = "/cached?key=hot&ms=0"
CACHE_SCENARIO = f"GET /cached?key=hot (hit) c={CACHE_CONNECTIONS}"


def items_scenario(database):
    return f"GET /items/{{id}} {database} c={ITEMS_CONNECTIONS}"


ROW_42 = dict(zip(("id", "name", "price", "description"), list(rows())[41]))


def wanted(scenario, chosen):
    return chosen is None or scenario in chosen


def wanted_databases(chosen):
    """The databases the items scenarios run on: `items` is both."""
    return [db for db in DATABASES if wanted("items", chosen) or wanted(f"items-{db}", chosen)]


def data_only(chosen):
    """Only issue 13's scenarios: only the servers that serve them."""
    return chosen is not None and chosen <= {"items", "items-sqlite", "items-postgres", "cache"}


def measured(running, duration, record, label, db_pid=None, **how):
    """One wrk run with the server's CPU time per request (and the database's, if given)."""
    before = cpu_seconds(running.pid)
    db_before = db_cpu_seconds(db_pid) if db_pid else None
    result = wrk(duration=duration, **how)
    result["cpu_us_per_request"] = (cpu_seconds(running.pid) - before) / max(result["requests"], 1) * 1e6
    if db_pid:
        result["db_cpu_us_per_request"] = (db_cpu_seconds(db_pid) - db_before) / max(result["requests"], 1) * 1e6
    record(label, result)


def main_scenarios(server, chosen):
    """Whether anything is measured on the server's main start (all but the items ones)."""
    return (any(wanted(s, chosen) for s in ("plaintext", "json", "pipelined"))
            or (server.contract and wanted("contract", chosen))
            or (server.data and wanted("cache", chosen)))


def throughput(running, duration, record, chosen=None):
    """The plain and pipelined scenarios (and POST /contract and GET /cached where the server
    serves them), with the server's CPU time per request."""
    def measured_here(label, **how):
        measured(running, duration, record, label, **how)

    contract = dict(path="/contract", connections=CONTRACT_CONNECTIONS, script="post_contract.lua",
                    script_args=(CONTRACT_BODY, CONTRACT_REQUEST_ID))
    plain = [(path, conns, pipeline) for path, conns, pipeline in THROUGHPUT
             if wanted("pipelined" if pipeline else path.strip("/"), chosen)]
    run_contract = running.server.contract and wanted("contract", chosen)
    run_cache = running.server.data and wanted("cache", chosen)
    # Warm-up: caches, allocator, lazily built state (a model's compiled validator).
    if plain:
        wrk("/plaintext", 64, 1)
    if run_contract:
        wrk(**dict(contract, duration=1))
    if run_cache:
        exchange("GET", CACHE_PATH)  # the one miss: every request measured is a hit
        wrk(CACHE_PATH, CACHE_CONNECTIONS, 1)
    for path, conns, pipeline in plain:
        measured_here(f"{path} c={conns}" + (f" pipelined {pipeline}" if pipeline else ""),
                      path=path, connections=conns, pipeline=pipeline)
    if run_contract:
        measured_here(CONTRACT_SCENARIO, **contract)
    if run_cache:
        measured_here(CACHE_SCENARIO, path=CACHE_PATH, connections=CACHE_CONNECTIONS)
        # Still a hit after the load: the loader ran once.
        _, _, body = exchange("GET", CACHE_PATH)
        if json.loads(body).get("loads") != 1:
            print(f"cache: {running.server.name} loaded the key again under load: {body!r}",
                  file=sys.stderr, flush=True)


# kairos serve's /items need a bearer token (each item is its user's): one for the admin
# scope, which sees the seeded rows (they belong to nobody), signed with the secret the bench
# gives kairos — HS256, made here with the standard library. Every server gets
# the header; the peers' /items/{id} ignore it (they check no token: kairos does more work).
BENCH_JWT_SECRET = "the benchmark's secret, thirty-two bytes or more"


def bench_token():
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    # kairos names a key by the first 8 bytes of its secret's SHA-256, in hex.
    kid = hashlib.sha256(BENCH_JWT_SECRET.encode()).digest()[:8].hex()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    claims = b64(json.dumps({"sub": "bench", "scope": "admin", "iat": now,
                             "exp": now + 24 * 3600}).encode())
    signature = hmac.new(BENCH_JWT_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256)
    return f"{header}.{claims}.{b64(signature.digest())}"


ITEMS_HEADERS = (("Authorization", f"Bearer {bench_token()}"),)


def throughput_items(running, duration, record, database, db_pid=None):
    """GET /items/{id}, random ids, on `database` (the server was started on it)."""
    how = dict(path="/items/1", connections=ITEMS_CONNECTIONS, script="items.lua",
               script_args=(str(ROWS),), headers=tuple(f"{k}: {v}" for k, v in ITEMS_HEADERS))
    wrk(**dict(how, duration=1))  # warm-up: the pool's connections, the database's pages
    measured(running, duration, record, items_scenario(database), db_pid=db_pid, **how)


def check_data(servers, log_for, databases, cache):
    """Before measuring issue 13's scenarios: on each database, every server answers
    /items/42 with the same JSON (the seeded row) and /items/999999 with 404; and
    /cached?key=hot, asked twice, is a hit the second time (its loader ran once)."""
    problems, report = [], {}
    for database, url in databases.items():
        answers = {}
        for server in servers:
            with Running(server, log_for(server), database_url=url):
                answers[server.name] = (exchange("GET", "/items/42", headers=ITEMS_HEADERS),
                                        exchange("GET", "/items/999999", headers=ITEMS_HEADERS))
        reference = None
        for name, ((status, fields, body), (missing, _, missing_body)) in answers.items():
            print(f"items check ({database}): {name:40} 42 -> {status} {body.decode()}\n"
                  f"{'':64}999999 -> {missing} {missing_body.decode()}", file=sys.stderr, flush=True)
            if status != 200 or not fields.get("content-type", "").startswith("application/json"):
                problems.append(f"{database}: {name}: /items/42 got {status}: {body[:300]!r}")
                continue
            if json.loads(body) != ROW_42:
                problems.append(f"{database}: {name}: /items/42 answered {body.decode()}, "
                                f"the seeded row is {json.dumps(ROW_42)}")
            if reference is None:
                reference = (name, body)
            elif body != reference[1]:
                print(f"items check: {name}'s answer is the same JSON as {reference[0]}'s, "
                      f"written differently", file=sys.stderr)
            if missing != 404:
                problems.append(f"{database}: {name}: /items/999999 got {missing}, not 404")
        report[database] = {n: {"42": [a[0][0], json.loads(a[0][2])], "999999": [a[1][0], json.loads(a[1][2])]}
                            for n, a in answers.items()}
    if cache:
        report["cache"] = {}
        for server in servers:
            with Running(server, log_for(server), database_url=databases.get("sqlite")):
                first = exchange("GET", CACHE_PATH)
                second = exchange("GET", CACHE_PATH)
            answer = json.loads(second[2]) if second[0] == 200 else {}
            print(f"cache check: {server.name:40} {second[0]} {second[2].decode()}", file=sys.stderr, flush=True)
            if first[0] != 200 or second[0] != 200 or answer.get("loads") != 1 \
                    or answer.get("cache", {}).get("hits", 0) < 1 or answer.get("key") != "hot":
                problems.append(f"cache: {server.name}: the second request is not a hit: "
                                f"{first[0]} {first[2][:200]!r}, {second[0]} {second[2][:200]!r}")
            report["cache"][server.name] = answer
    if problems:
        raise SystemExit("items/cache check failed:\n  " + "\n  ".join(problems))
    return report


def check_contract(servers, log_for):
    """Before measuring: each server answers the valid body 200 with the same JSON, and the
    bad one 422 — listing the three bad fields in FastAPI's shape for kairos and FastAPI.
    Stops the run if not (a benchmark of different answers measures nothing)."""
    answers = {}
    for server in servers:
        with Running(server, log_for(server)):
            headers = [("Content-Type", "application/json"), ("X-Request-Id", CONTRACT_REQUEST_ID)]
            good = exchange("POST", "/contract", CONTRACT_BODY.encode(), headers)
            bad = exchange("POST", "/contract", CONTRACT_BAD_BODY.encode(), headers)
        answers[server.name] = (good, bad)
    problems, reference = [], None
    for name, ((status, fields, body), (bad_status, _, bad_body)) in answers.items():
        if status != 200 or not fields.get("content-type", "").startswith("application/json"):
            problems.append(f"{name}: the valid body got {status} {fields.get('content-type')}: {body[:300]!r}")
            continue
        if reference is None:
            reference = (name, json.loads(body), body)
        elif json.loads(body) != reference[1]:
            problems.append(f"{name} answered {body.decode()}, {reference[0]} {reference[2].decode()}")
        elif body != reference[2]:
            print(f"contract check: {name}'s answer is the same JSON as {reference[0]}'s, "
                  f"written differently:\n  {body.decode()}\n  {reference[2].decode()}", file=sys.stderr)
        if bad_status != 422:
            problems.append(f"{name}: the bad body got {bad_status}, not 422: {bad_body[:300]!r}")
            continue
        detail = json.loads(bad_body).get("detail")
        if name.startswith(("kairos", "FastAPI")):
            fastapi_shape = isinstance(detail, list) and all(
                isinstance(i, dict) and {"type", "loc", "msg", "input"} <= set(i) for i in detail)
            locs = sorted(tuple(i["loc"]) for i in detail) if fastapi_shape else None
            want = sorted([("body", "email"), ("body", "quantity"), ("body", "channel")])
            if locs != want:
                problems.append(f"{name}: the bad body's 422 is not FastAPI's three items: {bad_body.decode()}")
    for name, (good, bad) in answers.items():
        print(f"contract check: {name:40} valid {good[0]} {good[2].decode()}\n"
              f"{'':56}bad   {bad[0]} {bad[2].decode()[:400]}", file=sys.stderr, flush=True)
    if problems:
        raise SystemExit("contract check failed:\n  " + "\n  ".join(problems))
    kairos, fastapi = (next((a[1][2] for n, a in answers.items() if n.startswith(p)), None)
                       for p in ("kairos serve", "FastAPI"))
    if kairos and fastapi:
        same = [(i["type"], i["loc"], i["msg"]) for i in json.loads(kairos)["detail"]] == \
               [(i["type"], i["loc"], i["msg"]) for i in json.loads(fastapi)["detail"]]
        print(f"contract check: kairos' and FastAPI's 422 items (type, loc, msg) "
              f"{'are the same, in the same order' if same else 'differ (see above)'}", file=sys.stderr)
    return {name: {"valid": [g[0], json.loads(g[2])], "bad": [b[0], json.loads(b[2])]}
            for name, (g, b) in answers.items()}


def behaviour(running, server, args, record):
    quick = args.quick
    dur = 2 if quick else 4
    # Sleeping routes: throughput is set by the sleep (connections / 0.1 s) or the pool
    # (tokens / 0.1 s); the figure checks the model, not the machine.
    for conns in (256, 1000):
        record(f"/async?ms=100 c={conns}", dict(wrk("/async?ms=100", conns, dur), ideal_rps=conns / 0.1))
    record("/sync?ms=100 c=256", dict(wrk("/sync?ms=100", 256, dur), ideal_rps=40 / 0.1))

    # Blocking the loop (/bad) vs handing the blocking call to a thread (/good), with a new
    # connection's request probed meanwhile.
    for route in ("bad", "good"):
        before = get_json("/debug/loop")["slow_polls"] if server.stall_stats else None
        load_s = dur + 2
        load = subprocess.Popen(["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{BLOCK_CONNECTIONS}",
                                 f"-d{load_s}s", "--timeout=30s", url(f"/{route}?ms={BLOCK_MS}")],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        probe = loadgen(args.bin_dir, "probe", "--url", url("/plaintext"), "--interval-ms", 250,
                        "--duration-s", dur, "--timeout-s", 30)
        out, _ = load.communicate(timeout=120)
        result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                  "requests": int(re.search(r"(\d+) requests in", out).group(1)),
                  "probe": probe, "load_s": load_s, "block_ms": BLOCK_MS,
                  "connections": BLOCK_CONNECTIONS}
        if server.stall_stats:
            # Read after wrk has finished: every request it counted has completed its poll.
            result["slow_polls_reported"] = get_json("/debug/loop")["slow_polls"] - before
        record(f"/{route} c={BLOCK_CONNECTIONS}", result)

    # 1,000 concurrent streams of 20 events at 100 ms.
    clients = 200 if quick else 1000
    record(f"/stream {clients} clients",
           loadgen(args.bin_dir, "stream", "--url", url("/stream?n=20&interval_ms=100"),
                   "--clients", clients, "--expect", 20))

    # Outbound calls: 20 under Semaphore(5), 200 ms each: ideal 4 waves × 0.2 s = 0.8 s.
    record("/external n=20 limit=5 ms=200",
           loadgen(args.bin_dir, "request", "--url", url("/external?n=20&limit=5&ms=200"),
                   "--repeat", 3 if quick else 5))

    # CPU-bound work per pool, one and two jobs at once, /plaintext probed meanwhile.
    n = 10_000_000 if server.name.startswith("FastAPI") else 200_000_000
    # Python's loop runs far slower than Rust's; n is scaled so that jobs last a comparable
    # time (a few hundred milliseconds), and the report says so.
    for pool in server.cpu_pools:
        get_json(f"/cpu?pool={pool}&n=1000")  # warm-up: a process pool starts its workers
    for pool in server.cpu_pools:
        for count in (1, 2):
            path = f"/cpu?pool={pool}&n={n}"
            record(f"/cpu pool={pool} x{count}",
                   dict(loadgen(args.bin_dir, "concurrent", "--url", url(path), "--count", count,
                                "--probe-url", url("/plaintext"), "--probe-interval-ms", 20),
                        n=n))


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin-dir", required=True, help="where the peers and loadgen were built")
    parser.add_argument("--kairos", required=True, help="the release kairos binary")
    parser.add_argument("--kairos-before", help="a second kairos binary to measure beside it (before/after)")
    parser.add_argument("--kairos-workers", type=int, default=1,
                        help="kairos serve's --workers (all of them on the server's core)")
    parser.add_argument("--throughput-only", action="store_true",
                        help="skip the chapter's scenarios: throughput rounds and memory only")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=2, help="seconds per throughput scenario")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s, smaller scenarios")
    parser.add_argument("--only", help="comma-separated server name prefixes to run")
    parser.add_argument("--scenario", help="comma-separated throughput scenarios to run, of "
                        + ", ".join(SCENARIOS) + " (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench/out/http.json"))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 1

    all_servers = servers(args.bin_dir, args.kairos, args.kairos_before, args.kairos_workers)
    if args.only:
        prefixes = args.only.split(",")
        all_servers = [s for s in all_servers if any(s.name.startswith(p) for p in prefixes)]
    chosen = None
    if args.scenario:
        chosen = set(args.scenario.split(","))
        if chosen - set(SCENARIOS):
            parser.error(f"unknown scenario(s) {', '.join(sorted(chosen - set(SCENARIOS)))}; "
                         f"known: {', '.join(SCENARIOS)}")
        if chosen == {"contract"}:
            # Only the servers that serve it.
            all_servers = [s for s in all_servers if s.contract]
        if data_only(chosen):
            all_servers = [s for s in all_servers if s.data]
    results = {s.name: {"rounds": {}, "behaviour": {}, "memory": {}} for s in all_servers}
    log_dir = ROOT / "bench/out/logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    # Another program using the cores (a build) skews every figure: the report says so.
    loadavg_start = os.getloadavg()

    def log_for(server):
        return open(log_dir / (re.sub(r"\W+", "_", server.name) + ".log"), "a")

    contract_check = None
    if wanted("contract", chosen) and any(s.contract for s in all_servers):
        contract_check = check_contract([s for s in all_servers if s.contract], log_for)

    # Issue 13: the seeded databases, for the whole run (read only: every server reads the
    # same rows), then the check of the answers.
    import contextlib
    import tempfile
    stack = contextlib.ExitStack()
    databases, db_pids = {}, {}
    data_servers = [s for s in all_servers if s.data]
    data_check = None
    if data_servers and (wanted_databases(chosen) or wanted("cache", chosen)):
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="kairos-bench-db-"))
        for database in wanted_databases(chosen):
            if database == "sqlite":
                databases["sqlite"] = seed_sqlite(tmp)
            else:
                pg = stack.enter_context(Postgres(SERVER_CORE, open(log_dir / "postgres.log", "a")))
                databases["postgres"], db_pids["postgres"] = pg.url, pg.pid
        data_check = check_data(data_servers, log_for, databases, wanted("cache", chosen))

    for rnd in range(args.rounds):
        order = all_servers if rnd % 2 == 0 else list(reversed(all_servers))
        for server in order:
            def record(scenario, result, server=server, rnd=rnd):
                results[server.name]["rounds"].setdefault(scenario, []).append(result)
                extra = f" cpu {result['cpu_us_per_request']:.2f} µs/req" if "cpu_us_per_request" in result else ""
                if "db_cpu_us_per_request" in result:
                    extra += f" (+ database {result['db_cpu_us_per_request']:.2f})"
                print(f"round {rnd + 1} {server.name:40} {scenario:32} {result['rps']:>10,.0f} req/s{extra}",
                      file=sys.stderr, flush=True)

            if server.data:
                for database, url in databases.items():
                    with Running(server, log_for(server), database_url=url) as running:
                        throughput_items(running, args.duration, record, database, db_pids.get(database))
            if not main_scenarios(server, chosen):
                continue
            with Running(server, log_for(server), database_url=databases.get("sqlite")) as running:
                memory = results[server.name]["memory"]
                memory.setdefault("idle_rss_kib", []).append(memory_kib(running.pid, "VmRSS"))
                throughput(running, args.duration, record, chosen)
                memory.setdefault("peak_rss_kib_plaintext_load", []).append(memory_kib(running.pid, "VmHWM"))

    for server in all_servers:
        if not server.full or args.throughput_only:
            continue
        with Running(server, log_for(server)) as running:
            def record(scenario, result, server=server):
                results[server.name]["behaviour"][scenario] = result
                print(f"{server.name:40} {scenario:32} {json.dumps(result)[:160]}", file=sys.stderr, flush=True)

            wrk("/plaintext", 64, 1)
            behaviour(running, server, args, record)
            results[server.name]["memory"]["peak_rss_kib_all"] = memory_kib(running.pid, "VmHWM")

    meta = {"rounds": args.rounds, "duration_s": args.duration, "quick": args.quick,
            "elapsed_s": round(time.time() - started), "servers": [s.name for s in all_servers],
            "server_core": SERVER_CORE, "load_core": LOAD_CORE, "scenarios": sorted(chosen or SCENARIOS),
            "contract_check": contract_check, "data_check": data_check,
            "databases": sorted(databases), "loadavg_start": loadavg_start,
            "loadavg_end": os.getloadavg()}
    stack.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {args.out} after {meta['elapsed_s']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
