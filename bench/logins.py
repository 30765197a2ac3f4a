#!/usr/bin/env python3
"""Issue 16's benchmark: storms of 20, 100 and 500 concurrent logins, kairos against FastAPI
with passlib/argon2, each both ways -- the password checked off the loop and on it -- with
the login latencies and what a `/plaintext` probe suffers meanwhile, side by side in one run.

  kairos serve   POST /token      argon2id on its CPU pool (kairos' run_in_executor)
                 POST /login/bad  the same check on the event loop (the chapter's mistake)
  FastAPI        POST /token      passlib in `await loop.run_in_executor(None, verify)` (the
                                  chapter's way)
                 POST /login/bad  passlib's verify called in the `async def` (the common way)

Both hash with argon2id, m = 19 MiB, t = 2, p = 1 (kairos' `Passwords::new`; the FastAPI peer,
bench/peers/fastapi/logins_app.py, sets passlib to the same), both keep users in SQLite (sqlx;
aiosqlite), both on one worker.

Method. Each server runs pinned to core 0 (its hashing threads too: they inherit the
affinity, so every hash of a storm runs on that one core, whichever route), the load
generator (`loginload`, bench/peers/src/bin/loginload.rs) on core 1. Per server start: a fresh
SQLite file, max(N) users registered through POST /users, then, per route, a warm-up of 5
logins, one login alone 5 times (what one hash costs there), and the storms: N clients
connect, are released together, each logs in once (a different user each: every login
succeeds), and meanwhile a probe sends GET /plaintext on its own kept-alive connection, one at
a time, 10 ms apart, from the release to the last answer. Rounds interleave the servers:
kairos /token, kairos /login/bad, FastAPI /token, FastAPI /login/bad, then the reverse, and so
on (a start per server per round); medians of the rounds are reported.

Both servers limit logins per client address (kairos: 50 per 15 minutes, successes included,
crates/cli/src/service/auth.rs `count_attempt`; the FastAPI peer the same). The storms come
from many loopback addresses -- Linux answers on all of 127.0.0.0/8 -- each client's socket
bound to 127.1.x.y before it connects, at most 25 logins per address per server start, so no
login meets the limit and none is refused.

Usage: python3 bench/logins.py --kairos BIN --loginload BIN [--rounds 3] [--counts 20,100,500]
(bench/logins.sh installs what is missing, builds loginload and runs this.)
Writes bench/out/logins.json and prints a markdown table.
"""
import argparse
import concurrent.futures
import datetime
import http.client
import ipaddress
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (process-tree CPU accounting is suite.py's)

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"
PASSWORD = "correct-horse-battery"
USER_PREFIX = "user"
PER_ADDRESS = 25  # logins per source address per server start (the limit is 50)
FIRST_SOURCE = ipaddress.IPv4Address("127.1.0.1")
PROBE_GAP_MS = 10
WARMUP_LOGINS = 5
SOLO_LOGINS = 5
JWT_SECRET = "logins-benchmark-secret-0123456789abcdef"
ROUTES = ("/token", "/login/bad")
SERVERS = ("kairos", "FastAPI")
LABEL = {
    ("kairos", "/token"): "kairos serve, /token (CPU pool)",
    ("kairos", "/login/bad"): "kairos serve, /login/bad (on the loop)",
    ("FastAPI", "/token"): "FastAPI, /token (run_in_executor)",
    ("FastAPI", "/login/bad"): "FastAPI, /login/bad (verify in async def)",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def core_busy():
    """Busy jiffies of cores 0 and 1 (everything but idle and iowait), from /proc/stat."""
    busy = {}
    for line in open("/proc/stat"):
        name, *fields = line.split()
        if name in ("cpu0", "cpu1"):
            values = list(map(int, fields))
            busy[name] = sum(values) - values[3] - values[4]
    return busy


class Sources:
    """Fresh loopback source addresses, PER_ADDRESS logins each at most."""

    def __init__(self):
        self.next = FIRST_SOURCE

    def block(self, logins):
        first = self.next
        self.next += math.ceil(logins / PER_ADDRESS)
        return str(first)


class Server:
    """One started server (kairos serve or the FastAPI peer) on core 0, with its own database
    file; stopped (its whole process group) on exit."""

    def __init__(self, name, kairos_bin, workdir, log):
        self.name = name
        self.port = free_port()
        self.db = Path(workdir) / f"{name}-{time.monotonic_ns()}.db"
        env = dict(os.environ)
        if name == "kairos":
            command = [kairos_bin, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
                       "--log-level", "warn", "--database-url", f"sqlite://{self.db}?mode=rwc",
                       "--jwt-secret", JWT_SECRET]
        else:
            command = ["bash", str(ROOT / "bench/peers/fastapi/logins_run.sh"), str(self.port)]
            env.update(DATABASE_URL=f"sqlite:{self.db}", KAIROS_JWT_SECRET=JWT_SECRET)
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *command], env=env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        suite.wait_listening(self.port, self.proc)
        time.sleep(0.3)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def register(self, count):
        """Users user0 .. user{count-1}, all with PASSWORD; seconds taken."""
        def one(i):
            body = json.dumps({"username": f"{USER_PREFIX}{i}", "password": PASSWORD})
            status, answer = self.request("POST", "/users", body,
                                          {"Content-Type": "application/json"})
            if status != 201:
                raise SystemExit(f"{self.name}: POST /users for {USER_PREFIX}{i}: {status} {answer[:200]!r}")
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(count)))
        return time.monotonic() - start

    def debug_loop(self):
        if self.name != "kairos":
            return None
        status, body = self.request("GET", "/debug/loop")
        return json.loads(body) if status == 200 else None


def loginload(binary, server, route, count, source, probe=True, user_first=0):
    cmd = ["taskset", "-c", LOAD_CORE, binary, "storm", "--url", server.url(route),
           "--count", str(count), "--password", PASSWORD, "--user-prefix", USER_PREFIX,
           "--user-first", str(user_first), "--source-first", source,
           "--per-source", str(PER_ADDRESS), "--timeout-s", "300"]
    if probe:
        cmd += ["--probe-url", server.url("/plaintext"), "--probe-gap-ms", str(PROBE_GAP_MS)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"loginload {' '.join(cmd[3:])} failed:\n{done.stderr}{done.stdout}")
    return json.loads(done.stdout)


def storm(args, server, route, count, sources):
    """One measured storm, with the server's CPU time and the two cores' busy time around it
    (core 0's busy time beyond the server's own is someone else's: the machine is shared)."""
    cpu_before, busy_before, t0 = suite.cpu_seconds(server.proc.pid), core_busy(), time.monotonic()
    result = loginload(args.loginload, server, route, count, sources.block(count))
    elapsed = time.monotonic() - t0
    server_cpu = suite.cpu_seconds(server.proc.pid) - cpu_before
    busy = {core: (value - busy_before[core]) / suite.CLK_TCK for core, value in core_busy().items()}
    result["server_cpu_s"] = round(server_cpu, 3)
    result["server_cpu_ms_per_login"] = round(server_cpu / max(result["ok"], 1) * 1e3, 2)
    result["elapsed_s"] = round(elapsed, 3)
    result["core0_others_share"] = round(max(busy["cpu0"] - server_cpu, 0) / elapsed, 3)
    result["core1_busy_share"] = round(busy["cpu1"] / elapsed, 3)
    del result["probe"]["samples_ms"][200:]  # keep the JSON readable
    if result["ok"] != count:
        print(f"  !! {server.name} {route} N={count}: {result['ok']} of {count} logins succeeded: "
              f"{result['statuses']} {result['error_samples']}", file=sys.stderr, flush=True)
    return result


def run_server(args, name, routes, record, log, workdir):
    users = max(args.counts)
    with Server(name, args.kairos, workdir, log) as server:
        sources = Sources()
        took = server.register(users)
        print(f"{name}: {users} users registered in {took:.1f} s "
              f"({took / users * 1e3:.0f} ms each, hashed on core 0)", flush=True)
        for route in routes:
            warm = loginload(args.loginload, server, route, WARMUP_LOGINS,
                             sources.block(WARMUP_LOGINS), probe=False)
            solo = []
            for _ in range(SOLO_LOGINS):
                alone = loginload(args.loginload, server, route, 1, sources.block(1), probe=False)
                solo.append(alone["latency_ms"]["p50"])
            if warm["ok"] != WARMUP_LOGINS or None in solo:
                raise SystemExit(f"{name} {route}: warm-up logins failed: {warm['error_samples']}")
            record(name, route, "solo_ms", statistics.median(solo))
            for count in args.counts:
                time.sleep(0.5)
                result = storm(args, server, route, count, sources)
                record(name, route, count, result)
                print(f"  {LABEL[(name, route)]:44} N={count:<4} ok {result['ok']:>3}  "
                      f"p50 {result['latency_ms']['p50']:>9.1f} ms  p99 {result['latency_ms']['p99']:>9.1f} ms  "
                      f"probe p99 {fmt(result['probe']['latency_ms']['p99'])} max "
                      f"{fmt(result['probe']['latency_ms']['max'])} ms ({result['probe']['completed']} probes)  "
                      f"{result['logins_per_s']:.1f} logins/s  others on core 0: "
                      f"{result['core0_others_share']:.0%}", flush=True)
            loop = server.debug_loop()
            if loop is not None:
                record(name, route, "debug_loop", {
                    "pools": loop.get("pools"), "slow_polls": loop.get("slow_polls"),
                    "slow_polls_by_route": loop.get("slow_polls_by_route")})


def fmt(value):
    return "—" if value is None else f"{value:,.1f}"


def versions(args):
    kairos = subprocess.run([args.kairos, "--version"], capture_output=True, text=True).stdout.strip()
    venv_python = ROOT / "bench/out/venv-logins/bin/python"
    script = ("import importlib.metadata as m, sys; print(sys.version.split()[0]); "
              "print(', '.join(f'{p} {m.version(p)}' for p in ('fastapi', 'uvicorn', 'uvloop', "
              "'httptools', 'passlib', 'argon2-cffi', 'argon2-cffi-bindings', 'aiosqlite')))")
    python = subprocess.run([str(venv_python), "-c", script], capture_output=True, text=True).stdout.split("\n")
    return {"kairos": kairos, "python": python[0], "python_packages": python[1],
            "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                       f"Linux {platform.release()}"}


def python_hash_cost():
    """CPU ms of one passlib verify (argon2-cffi) at the benchmark's settings, on core 1 with
    nothing else of ours running: what a FastAPI login's hash costs by itself (kairos' is its
    server CPU per login, less a little HTTP)."""
    script = (
        "import time; from logins_app import pwd_context as c; h = c.hash('x' * 21); t = []\n"
        "for _ in range(10):\n"
        "    s = time.process_time(); c.verify('x' * 21, h); t.append(time.process_time() - s)\n"
        "print(sorted(t)[5] * 1e3)")
    done = subprocess.run(["taskset", "-c", LOAD_CORE, str(ROOT / "bench/out/venv-logins/bin/python"),
                           "-c", script], capture_output=True, text=True,
                          cwd=ROOT / "bench/peers/fastapi")
    return round(float(done.stdout.strip()), 2) if done.returncode == 0 else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kairos", required=True, help="the kairos binary (kairos serve)")
    parser.add_argument("--loginload", required=True, help="bench/peers' loginload binary")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--counts", default="20,100,500")
    parser.add_argument("--out", default=str(ROOT / "bench/out/logins.json"))
    args = parser.parse_args()
    args.counts = [int(c) for c in args.counts.split(",")]
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench/logins.py needs 2 cores (server on core 0, load on core 1)")

    started = time.monotonic()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(out.with_suffix(".log"), "w")
    results = {}  # "server route" -> {"solo_ms": [...], "N": [per round], "debug_loop": [...]}

    def record(name, route, key, value):
        results.setdefault(f"{name} {route}", {}).setdefault(str(key), []).append(value)

    print("Both servers run on core 0 -- their hashing threads inherit the affinity, so every "
          "hash runs on that one core: kairos' CPU pool has 1 thread there (one per core it may "
          "use), FastAPI's default executor min(32, os.cpu_count() + 4) = "
          f"{min(32, (os.cpu_count() or 1) + 4)} threads; loginload on core 1.", flush=True)
    passlib_verify_ms = python_hash_cost()
    print(f"passlib/argon2-cffi verify alone: {passlib_verify_ms} ms of CPU", flush=True)
    workdir = tempfile.mkdtemp(prefix="kairos-logins-")
    try:
        order = [(name, ROUTES) for name in SERVERS]
        for rnd in range(args.rounds):
            plan = order if rnd % 2 == 0 else [(name, ROUTES[::-1]) for name, _ in order[::-1]]
            print(f"round {rnd + 1}/{args.rounds}: "
                  + ", ".join(f"{name} {route}" for name, routes in plan for route in routes), flush=True)
            for name, routes in plan:
                run_server(args, name, routes, record, log, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    report = {
        "date": datetime.date.today().isoformat(),
        "elapsed_s": round(elapsed),
        "versions": versions(args),
        "method": {
            "server_core": SERVER_CORE, "load_core": LOAD_CORE, "rounds": args.rounds,
            "counts": args.counts, "probe_gap_ms": PROBE_GAP_MS,
            "argon2": "argon2id, m=19456 KiB, t=2, p=1 (both servers)",
            "pools": {"kairos": "CPU pool: 1 thread (one per core of its affinity: core 0)",
                      "FastAPI": f"default ThreadPoolExecutor: {min(32, (os.cpu_count() or 1) + 4)} "
                                 "threads (min(32, os.cpu_count() + 4)), all on core 0"},
            "users_db": {"kairos": "SQLite through sqlx (5 connections)",
                         "FastAPI": "SQLite through aiosqlite (5 connections, a thread each)"},
            "sources": f"client sockets bound to 127.1.x.y, at most {PER_ADDRESS} logins per "
                       "address per server start (the servers allow 50 per address per 15 min)",
        },
        "passlib_verify_cpu_ms": passlib_verify_ms,
        "results": results,
        "summary": summarise(results, args.counts),
    }
    out.write_text(json.dumps(report, indent=2))
    print()
    print(markdown(report, args.counts))


def median_of(rounds, *path):
    values = []
    for r in rounds:
        for key in path:
            r = r[key] if r is not None else None
        if r is not None:
            values.append(r)
    return statistics.median(values) if values else None


def summarise(results, counts):
    summary = {}
    for name in SERVERS:
        for route in ROUTES:
            cell = results.get(f"{name} {route}", {})
            row = {"solo_ms": statistics.median(cell["solo_ms"]) if cell.get("solo_ms") else None}
            for count in counts:
                rounds = cell.get(str(count), [])
                row[str(count)] = {
                    "rounds": len(rounds),
                    "ok": sum(r["ok"] for r in rounds),
                    "sent": sum(r["count"] for r in rounds),
                    "login_p50_ms": median_of(rounds, "latency_ms", "p50"),
                    "login_p99_ms": median_of(rounds, "latency_ms", "p99"),
                    "probe_p99_ms": median_of(rounds, "probe", "latency_ms", "p99"),
                    "probe_max_ms": median_of(rounds, "probe", "latency_ms", "max"),
                    "probe_max_of_rounds_ms": max((r["probe"]["latency_ms"]["max"] for r in rounds
                                                   if r["probe"]["latency_ms"]["max"] is not None),
                                                  default=None),
                    "probes": median_of(rounds, "probe", "completed"),
                    "logins_per_s": median_of(rounds, "logins_per_s"),
                    "server_cpu_ms_per_login": median_of(rounds, "server_cpu_ms_per_login"),
                    "core0_others_share_max": max((r["core0_others_share"] for r in rounds), default=None),
                }
            summary[f"{name} {route}"] = row
    return summary


def markdown(report, counts):
    v, m = report["versions"], report["method"]
    lines = [
        f"Logins under a storm — {report['date']}, {v['machine']}; {m['rounds']} interleaved "
        f"round(s), medians; {report['elapsed_s'] // 60} min {report['elapsed_s'] % 60} s.",
        f"kairos: {v['kairos']}. Python {v['python']}: {v['python_packages']}.",
        f"Both servers pinned to core 0 with their hashing threads ({m['pools']['kairos']}; "
        f"FastAPI: {m['pools']['FastAPI']}), so every hash of a storm runs on one core; "
        f"loginload on core 1. {m['argon2']}. Each of N clients logs in once (all succeed), "
        f"released together; login latency from its request's write to its answer. The probe: "
        f"GET /plaintext on its own kept-alive connection, one at a time, {m['probe_gap_ms']} ms "
        f"apart, from the release to the last login's answer. {m['sources']}.",
        "",
        "| server, route | N | ok | login p50 | login p99 | probe p99 | probe worst (worst round) "
        "| probes | logins/s | server CPU/login |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in SERVERS:
        for route in ROUTES:
            row = report["summary"][f"{name} {route}"]
            for count in counts:
                c = row[str(count)]
                lines.append(
                    f"| {LABEL[(name, route)]} | {count} | {c['ok']}/{c['sent']} | "
                    f"{fmt(c['login_p50_ms'])} ms | {fmt(c['login_p99_ms'])} ms | "
                    f"{fmt(c['probe_p99_ms'])} ms | {fmt(c['probe_max_ms'])} ms "
                    f"({fmt(c['probe_max_of_rounds_ms'])} ms) | {c['probes']:.0f} | "
                    f"{c['logins_per_s']:.1f} | {fmt(c['server_cpu_ms_per_login'])} ms |")
    lines += ["", "One login alone (median of 5 per start, median of the starts): "
              + "; ".join(f"{LABEL[(n, r)]} {fmt(report['summary'][f'{n} {r}']['solo_ms'])} ms"
                          for n in SERVERS for r in ROUTES) + "."]
    lines.append(f"passlib/argon2-cffi's verify alone (no server): {fmt(report['passlib_verify_cpu_ms'])} ms "
                 "of CPU; kairos' hash is its server CPU per login less a little HTTP and SQL.")
    others = max((report["summary"][f"{n} {r}"][str(c)]["core0_others_share_max"] or 0)
                 for n in SERVERS for r in ROUTES for c in counts)
    lines.append(f"Other processes' share of core 0 during a storm: at most {others:.0%} "
                 "(core 0's busy time from /proc/stat less the server's own CPU time).")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
