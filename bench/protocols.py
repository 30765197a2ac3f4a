#!/usr/bin/env python3
"""Issue 15's side-by-side benchmarks: WebSockets, HTTP/2 and TLS, `kairos serve` against the
peers, in interleaved rounds, each server pinned to core 0 and its load generator to core 1.

  ws   WebSocket echo of small messages (16 bytes of text): `wsload echo`, C connections each
       with one message in flight. Messages (round trips) per second, the server's CPU per
       message (its utime + stime from /proc over the round, all threads and processes,
       divided by the messages), and its memory per idle open socket: RSS with 1,000 idle
       sockets open (`wsload idle`) minus RSS before them, divided by 1,000.
       kairos serve vs axum + tokio-tungstenite vs FastAPI on uvicorn (websockets).
  h2c  `h2load -c16 -m10` on /plaintext over HTTP/2 cleartext with prior knowledge (h2load's
       way for an http:// URL): requests per second and the server's CPU per request.
       kairos serve (HTTP/1.1 and h2c on the same port) vs hyper on tokio.
  tls  Full TLS handshakes per second (`tlsload`: rustls, no resumption, ALPN h2 and
       http/1.1, a close after each) and the server's CPU per handshake, both servers on the
       same self-signed ECDSA P-256 certificate, made for the run by `openssl req -x509`.
       kairos serve --ssl-certfile/--ssl-keyfile vs hyper + tokio-rustls.

Every Rust peer runs on one tokio current-thread runtime, as `kairos serve --workers 1` runs one
loop (`bench/peers/src/bin/peer_protocols.rs`); FastAPI is one uvicorn process. Each server
starts afresh for each measurement (A B C, then C B A in the next round), gets a warm-up, and
the medians of the rounds are kept. Before anything is measured each server is checked: text
and binary echoed as sent, a ping answered, the close answered (`wsload check`); /plaintext
over h2c and over HTTP/1.1 on the same port (curl); over TLS with ALPN h2 and with http/1.1
(curl, trusting the run's certificate). A server that fails a check stops the run with the
reason — `--only peers` measures the peers alone (say, before kairos has the feature).

Usage: python3 bench/protocols.py --bin-dir bench/peers/target/release --kairos target/release/kairos
         [--only peers|kairos|NAME,...] [--bench ws,h2c,tls] [--duration 5] [--rounds 3]
(bench/protocols.sh installs what is missing, builds, and runs this.) Writes
bench/out/protocols.json and prints the tables in markdown; the servers' logs, the
certificate and kairos' working directory are in bench/out/protocols/.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (CPU time and memory of a process tree, the cores)

ROOT = suite.ROOT
SERVER_CORE, LOAD_CORE = suite.SERVER_CORE, suite.LOAD_CORE
KAIROS = "kairos serve"
BENCHES = ("ws", "h2c", "tls")
TITLES = {
    "ws": "WebSocket echo",
    "h2c": "HTTP/2 cleartext (h2c), GET /plaintext",
    "tls": "TLS handshakes",
}


@dataclass
class Server:
    """One server of one benchmark: its name in the tables and how to start it on a port."""

    name: str
    bench: str
    argv: object  # port -> the command line

    @property
    def is_kairos(self):
        return self.name == KAIROS


def servers(args, cert, key):
    peer = f"{args.bin_dir}/peer_protocols"

    def kairos(*extra):
        # uvicorn's flags' names for TLS, as the issue asks of kairos serve.
        return lambda port: [args.kairos, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                             "--log-level", "warn", *extra]

    return {
        "ws": [
            Server(KAIROS, "ws", kairos()),
            Server("axum + tokio-tungstenite (tokio current-thread)", "ws",
                   lambda port: [peer, "axum-ws", "--port", str(port)]),
            Server("FastAPI (uvicorn, uvloop, websockets)", "ws",
                   lambda port: ["bash", str(ROOT / "bench/peers/fastapi/run.sh"), str(port)]),
        ],
        "h2c": [
            Server(KAIROS, "h2c", kairos()),
            # kairos-http alone (no framework, no middleware): like for like with bare hyper;
            # kairos serve above runs its service's middleware on every request.
            Server("kairos-http (bare)", "h2c",
                   lambda port: [f"{args.bin_dir}/peer_kairos_http", str(port)]),
            Server("hyper (tokio current-thread)", "h2c",
                   lambda port: [peer, "hyper-h2c", "--port", str(port)]),
        ],
        "tls": [
            Server(KAIROS, "tls", kairos("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))),
            Server("hyper + tokio-rustls (tokio current-thread)", "tls",
                   lambda port: [peer, "hyper-tls", "--port", str(port), "--cert", str(cert),
                                 "--key", str(key)]),
        ],
    }


def selected(server, only):
    """`--only`: `peers` (all but kairos), `kairos`, or server name prefixes."""
    if only is None:
        return True
    if only == "peers":
        return not server.is_kairos
    return any(server.name.startswith(prefix) for prefix in only.split(","))


# ---------------------------------------------------------------------------------------------
# Servers: start on a free port, wait, stop.

class Failed(Exception):
    """A server that cannot do what a benchmark needs, with the reason."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A server started on a free port, pinned to the server's core; stopped (with its whole
    process group) on exit. Its stdout and stderr go to its log."""

    def __init__(self, server, work_dir):
        self.server = server
        self.port = free_port()
        self.log_path = work_dir / "logs" / (re.sub(r"\W+", "_", server.name) + ".log")
        log = open(self.log_path, "a")
        self.log_start = log.tell()  # this start's part of the log, for the messages
        log.write(f"\n=== {time.strftime('%H:%M:%S')} {server.bench}: {' '.join(server.argv(self.port))}\n")
        log.flush()
        # kairos serve makes its default SQLite file in its working directory: the run's.
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *server.argv(self.port)],
                                     cwd=work_dir, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 120  # FastAPI's first start may build its venv
        while True:
            if self.proc.poll() is not None:
                raise Failed(f"exited with status {self.proc.returncode} before listening:\n"
                             + self.log_tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise Failed(f"did not listen on port {self.port} within 120 s:\n" + self.log_tail())
                time.sleep(0.05)
        time.sleep(0.3)  # lazily started threads settle before any reading

    def log_tail(self, lines=12):
        with open(self.log_path, errors="replace") as log:
            log.seek(self.log_start)
            text = log.read().rstrip().splitlines()
        return "\n".join("    " + line for line in text[-lines:])

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        try:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        time.sleep(0.3)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# Load generators, on the load core. Each run also says how busy it kept its own core: near
# 100% the client, not the server, set the rate (the server's CPU per unit still holds).

def load(cmd, timeout):
    """Runs `cmd` pinned to the load core: (stdout, stderr, status, share of its core used,
    its CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(["taskset", "-c", LOAD_CORE, *map(str, cmd)], capture_output=True,
                          text=True, timeout=timeout)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return done.stdout, done.stderr, done.returncode, busy / max(wall, 1e-9), busy


def machine_busy_seconds():
    """CPU time the whole machine spent busy, both cores, from /proc/stat: user, nice, system
    and steal (time the hypervisor gave to someone else). Not irq and softirq: with the
    kernel's IRQ time accounting they are counted there and not in any process's time, so the
    loopback traffic's softirq work would pass for another program's."""
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(
        int, open("/proc/stat").readline().split()[1:9])
    return (user + nice + system + steal) / suite.CLK_TCK


def measured(running, run, per):
    """`run()`, a load generator's measured run, with the server's CPU time around it: adds
    `cpu_us_per_<per>` (the server's CPU over the count `run` reports under `per`s) and
    `others_core_share`: the CPU that neither the server nor the load generator used meanwhile
    (other programs, the hypervisor's steal), as a share of one core. This machine is shared:
    a round with much of it was disturbed, and the tables say how much there was."""
    machine, server, started = machine_busy_seconds(), suite.cpu_seconds(running.pid), time.monotonic()
    result = run()
    wall = time.monotonic() - started
    server = suite.cpu_seconds(running.pid) - server
    others = machine_busy_seconds() - machine - server - result["load_cpu_s"]
    result[f"cpu_us_per_{per}"] = server / max(result[f"{per}s"], 1) * 1e6
    result["server_cpu_s"] = round(server, 3)
    result["others_core_share"] = round(max(others, 0.0) / max(wall, 1e-9), 3)
    return result


def load_json(cmd, timeout):
    out, err, status, share, busy = load(cmd, timeout)
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise Failed(f"{Path(str(cmd[0])).name} printed no JSON (status {status}):\n{out}{err}")
    if "error" in result and status != 0 and "ok" not in result:
        raise Failed(f"{Path(str(cmd[0])).name}: {result['error']}")
    result["load_core_share"] = round(share, 3)
    result["load_cpu_s"] = round(busy, 3)
    return result


def ws_url(port):
    return f"ws://127.0.0.1:{port}/ws/echo"


def to_ms(value):
    """h2load prints times as 812us, 1.32ms or 2.00s."""
    match = re.match(r"([\d.]+)(us|ms|s)$", value)
    return float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)] if match else None


def h2load(args, port, duration):
    cmd = ["h2load", "-c", args.h2_clients, "-m", args.h2_streams, "-t", 1, "-D", duration,
           f"http://127.0.0.1:{port}/plaintext"]
    out, err, status, share, busy = load(cmd, timeout=duration + 60)
    finished = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if status != 0 or not finished or not counts:
        raise Failed(f"h2load failed (status {status}):\n{out[-2000:]}{err[-2000:]}")
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    latency = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    total, _, done, succeeded, failed, errored, timeouts = map(int, counts.groups())
    return {
        "rps": float(finished.group(2)),
        "requests": succeeded,
        "done": done,
        "failed": failed,
        "errored": errored,
        "timeout": timeouts,
        "status_2xx": int(codes.group(1)) if codes else None,
        "mean_ms": to_ms(latency.group(3)) if latency else None,
        "max_ms": to_ms(latency.group(2)) if latency else None,
        "load_core_share": round(share, 3),
        "load_cpu_s": round(busy, 3),
    }


# ---------------------------------------------------------------------------------------------
# Checks: each server does the job, the same way, before anything is measured.

def curl(*args):
    done = subprocess.run(["curl", "-sS", "-m", "10", "-o", "-", "-w", "\n%{http_code} %{http_version}",
                           *args], capture_output=True, text=True)
    if done.returncode != 0:
        return None, None, done.stderr.strip()
    body, _, tail = done.stdout.rpartition("\n")
    code, _, version = tail.partition(" ")
    return body, (code, version), None


def expect_plaintext(what, answer, version):
    body, (code, got_version), error = answer[0], answer[1] or (None, None), answer[2]
    if error:
        return f"{what}: curl failed: {error}"
    if code != "200" or body != "Hello, World!" or got_version != version:
        return (f"{what}: expected 200 'Hello, World!' over HTTP/{version}, got {code} "
                f"{body[:200]!r} over HTTP/{got_version}")
    return None


def check(server, running, args, cert):
    """What the benchmark needs of the server; a list of problems (empty: fine)."""
    port = running.port
    if server.bench == "ws":
        result = load_json([f"{args.bin_dir}/wsload", "check", "--url", ws_url(port)], timeout=60)
        if not result.get("ok"):
            return [f"WebSocket {ws_url(port)}: {result.get('error')} (passed: "
                    f"{', '.join(result.get('passed') or []) or 'nothing'})"]
        return []
    url = f"{'https' if server.bench == 'tls' else 'http'}://127.0.0.1:{port}/plaintext"
    if server.bench == "h2c":
        answers = [("h2c with prior knowledge", curl("--http2-prior-knowledge", url), "2"),
                   ("HTTP/1.1 on the same port", curl("--http1.1", url), "1.1")]
    else:
        answers = [("TLS, ALPN h2", curl("--cacert", str(cert), "--http2", url), "2"),
                   ("TLS, ALPN http/1.1", curl("--cacert", str(cert), "--http1.1", url), "1.1")]
    return [p for what, answer, version in answers if (p := expect_plaintext(what, answer, version))]


# ---------------------------------------------------------------------------------------------
# Measurements: one server start each.

def measure_ws(running, args):
    wsload = f"{args.bin_dir}/wsload"
    url = ws_url(running.port)
    # Memory first, on a fresh server: one connection's one-time costs (lazily built state)
    # before the baseline, then the idle sockets; the echo rounds' freed buffers would
    # otherwise be reused by them and hide their cost.
    load_json([wsload, "echo", "--url", url, "--connections", 1, "--duration-s", 0.2], timeout=60)
    time.sleep(0.3)
    rss_before = suite.memory_kib(running.pid, "VmRSS")
    idle = subprocess.Popen(["taskset", "-c", LOAD_CORE, wsload, "idle", "--url", url,
                             "--connections", str(args.idle), "--hold-s", str(args.hold)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = idle.stdout.readline()
    opened = json.loads(first) if first.strip() else {"error": "wsload idle printed nothing"}
    time.sleep(0.5)  # the last accepted sockets' first buffers
    rss_open = suite.memory_kib(running.pid, "VmRSS")
    rest, err = idle.communicate(timeout=args.hold + 600)
    if "error" in opened:
        raise Failed(f"wsload idle: {opened['error']}\n{err}")
    held = json.loads(rest.strip().splitlines()[-1])
    # The echo: a warm-up, then the measured run with the server's CPU around it.
    echo = [wsload, "echo", "--url", url, "--connections", args.ws_connections,
            "--size", args.size]
    load_json([*echo, "--duration-s", 1], timeout=120)
    result = measured(running, lambda: load_json([*echo, "--duration-s", args.duration],
                                                 timeout=args.duration + 120), "message")
    if not result["messages"]:
        raise Failed(f"no message was echoed: {result['error_samples']}")
    open_count = opened["open"]
    result.update(
        rss_before_kib=rss_before, rss_open_kib=rss_open, idle_open=open_count,
        idle_alive_after_hold=held["alive_after_hold"], idle_errors=held["errors"],
        idle_error_samples=held["error_samples"],
        idle_kib_per_socket=(rss_open - rss_before) / open_count if open_count else None)
    return result


def measure_h2c(running, args):
    h2load(args, running.port, 1)  # warm-up
    result = measured(running, lambda: h2load(args, running.port, args.duration), "request")
    if not result["requests"]:
        raise Failed(f"h2load had no request succeed: {result}")
    return result


def measure_tls(running, args, cert):
    tlsload = [f"{args.bin_dir}/tlsload", "--addr", f"127.0.0.1:{running.port}", "--ca", cert,
               "--connections", args.tls_connections]
    load_json([*tlsload, "--duration-s", 1], timeout=120)  # warm-up
    result = measured(running, lambda: load_json([*tlsload, "--duration-s", args.duration],
                                                 timeout=args.duration + 120), "handshake")
    if not result["handshakes"]:
        raise Failed(f"no handshake went through: {result['error_samples']}")
    return result


def summary_line(bench, result):
    if bench == "ws":
        return (f"{result['messages_per_s']:>10,.0f} msg/s {result['cpu_us_per_message']:7.2f} µs CPU/msg "
                f"idle {fmt(result['idle_kib_per_socket'], ' KiB/socket', 1)} "
                f"({result['idle_alive_after_hold']}/{result['idle_open']} alive) errors "
                f"{result['errors'] + result['idle_errors']} load core {result['load_core_share']:.0%} "
                f"others {result['others_core_share']:.0%}")
    if bench == "h2c":
        return (f"{result['rps']:>10,.0f} req/s {result['cpu_us_per_request']:7.2f} µs CPU/req "
                f"failed {result['failed'] + result['errored'] + result['timeout']} "
                f"load core {result['load_core_share']:.0%} others {result['others_core_share']:.0%}")
    return (f"{result['handshakes_per_s']:>10,.0f} handshakes/s {result['cpu_us_per_handshake']:7.1f} µs "
            f"CPU/handshake alpn {result['alpn']} errors {result['errors']} "
            f"load core {result['load_core_share']:.0%} others {result['others_core_share']:.0%}")


# ---------------------------------------------------------------------------------------------
# The tables.

def fmt(value, unit="", digits=0):
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def median(rounds, key, inner=None):
    values = [r[key][inner] if inner else r[key] for r in rounds]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# Per benchmark: (column, key, inner key, unit, digits, compared with the reference?).
COLUMNS = {
    "ws": [("messages/s", "messages_per_s", None, "", 0, True),
           ("CPU/message", "cpu_us_per_message", None, " µs", 2, True),
           ("p50 RTT", "rtt_ms", "p50", " ms", 3, False),
           ("p99 RTT", "rtt_ms", "p99", " ms", 3, False),
           ("memory per idle socket", "idle_kib_per_socket", None, " KiB", 1, True)],
    "h2c": [("req/s", "rps", None, "", 0, True),
            ("CPU/req", "cpu_us_per_request", None, " µs", 2, True),
            ("mean latency", "mean_ms", None, " ms", 3, False)],
    "tls": [("handshakes/s", "handshakes_per_s", None, "", 0, True),
            ("CPU/handshake", "cpu_us_per_handshake", None, " µs", 1, True),
            ("p50 handshake", "handshake_ms", "p50", " ms", 3, False)],
}


def errors_of(bench, rounds):
    if bench == "ws":
        # wsload idle counts a socket that failed to open, or died while held, as an error.
        return sum(r["errors"] + r["idle_errors"] for r in rounds)
    if bench == "h2c":
        return sum(r["failed"] + r["errored"] + r["timeout"] for r in rounds)
    return sum(r["errors"] for r in rounds)


def table(bench, results, args):
    """The markdown table of one benchmark, ratios against kairos serve (or, without it, the
    first server measured), and the per-round ratios of the CPU figure."""
    names = list(results)
    if not names:
        return []
    reference = KAIROS if KAIROS in names else names[0]
    columns = COLUMNS[bench]
    lines = [f"### {TITLES[bench]}", ""]
    if bench == "ws":
        lines.append(f"{args.size}-byte text messages, {args.ws_connections} connections each with one "
                     f"message in flight (`wsload echo`); memory: RSS with {args.idle:,} idle sockets "
                     f"open minus RSS before, per socket (`wsload idle`).")
    elif bench == "h2c":
        lines.append(f"`h2load -c {args.h2_clients} -m {args.h2_streams} -t 1 -D {args.duration}` on "
                     "`http://…/plaintext` (HTTP/2 with prior knowledge).")
    else:
        lines.append(f"`tlsload`: {args.tls_connections} loops of connect, full handshake (rustls "
                     "client, no resumption, ALPN h2 + http/1.1, ECDSA P-256 certificate), close.")
    lines.append(f"Median of {args.rounds} interleaved round(s) of {args.duration} s; server on core "
                 f"{SERVER_CORE}, load generator on core {LOAD_CORE}. *load core*: how busy the load "
                 "generator kept its core (near 100% the client set the rate, and the CPU figure is "
                 "the one that separates the servers); *others*: CPU used meanwhile by neither "
                 "(other programs, the hypervisor's steal), in % of a core, the round's disturbance.")
    lines.append("")
    ratio_heads = [f"{c[0]} vs {reference}" for c in columns if c[5]]
    lines.append("| server | " + " | ".join(c[0] for c in columns) + " | load core | others | errors | "
                 + " | ".join(ratio_heads) + " |")
    lines.append("|---" * (1 + len(columns) + 3 + len(ratio_heads)) + "|")
    medians = {name: {c[0]: median(rounds, c[1], c[2]) for c in columns}
               for name, rounds in results.items()}
    for name, rounds in results.items():
        cells = [fmt(medians[name][c[0]], c[3], c[4]) for c in columns]
        cells.append(fmt(median(rounds, "load_core_share") * 100, "%"))
        cells.append(fmt(median(rounds, "others_core_share") * 100, "%"))
        cells.append(str(errors_of(bench, rounds)))
        for c in columns:
            if not c[5]:
                continue
            mine, theirs = medians[name][c[0]], medians[reference][c[0]]
            cells.append("—" if name == reference or not mine or not theirs else f"{mine / theirs:.2f}x")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cpu_key = columns[1][1]
    for name, rounds in results.items():
        if name == reference:
            continue
        per_round = [r[cpu_key] / ref[cpu_key] for r, ref in zip(rounds, results[reference])
                     if ref[cpu_key]]
        lines.append("")
        lines.append(f"{columns[1][0]}, {name} / {reference}, per round: "
                     + ", ".join(f"{r:.2f}x" for r in per_round))
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------

def make_certificate(work_dir):
    """A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, as a server's own
    (not a CA: rustls refuses a CA certificate as a server's)."""
    cert, key = work_dir / "cert.pem", work_dir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def raise_fd_limit(needed):
    """The servers and wsload each hold the idle sockets: the soft limit up to the hard one,
    inherited by every process started from here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f"{needed} open files are needed per process (the idle sockets) but the "
                         f"limit is {soft}: raise it (`ulimit -Hn`) or pass a smaller --idle")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True, help="where bench/peers was built (release)")
    parser.add_argument("--kairos", default=str(ROOT / "target/release/kairos"))
    parser.add_argument("--only", help="`peers`, `kairos`, or comma-separated server name prefixes")
    parser.add_argument("--bench", default=",".join(BENCHES), help="comma-separated, of " + ", ".join(BENCHES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--ws-connections", type=int, default=64)
    parser.add_argument("--size", type=int, default=16, help="WebSocket message size in bytes")
    parser.add_argument("--idle", type=int, default=1000, help="idle WebSocket connections")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds the idle sockets are held")
    parser.add_argument("--h2-clients", type=int, default=16)
    parser.add_argument("--h2-streams", type=int, default=10, help="h2load -m: streams per connection")
    parser.add_argument("--tls-connections", type=int, default=16)
    parser.add_argument("--out", default=str(ROOT / "bench/out/protocols.json"))
    args = parser.parse_args()
    # The servers run in the run's directory: every path given must stand on its own.
    args.bin_dir, args.kairos = str(Path(args.bin_dir).resolve()), str(Path(args.kairos).resolve())
    benches = args.bench.split(",")
    if set(benches) - set(BENCHES):
        parser.error(f"unknown benchmark(s) {', '.join(sorted(set(benches) - set(BENCHES)))}")
    for tool in ("taskset", "curl", "openssl", *(["h2load"] if "h2c" in benches else [])):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (bench/protocols.sh installs it)")
    raise_fd_limit(args.idle + 64)

    work_dir = ROOT / "bench/out/protocols"
    (work_dir / "logs").mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(work_dir)
    chosen = {bench: [s for s in servers(args, cert, key)[bench] if selected(s, args.only)]
              for bench in benches}
    chosen = {bench: group for bench, group in chosen.items() if group}
    if not chosen:
        raise SystemExit(f"--only {args.only!r} selects no server of {', '.join(benches)}")
    if any(s.is_kairos for group in chosen.values() for s in group) and not os.access(args.kairos, os.X_OK):
        raise SystemExit(f"{args.kairos} is not an executable kairos (build it, or --only peers)")
    started, loadavg_start = time.time(), os.getloadavg()

    # 1. The checks, every server of every benchmark.
    problems, checks = [], {}
    for bench, group in chosen.items():
        for server in group:
            try:
                with Running(server, work_dir) as running:
                    found = check(server, running, args, cert)
            except Failed as e:
                found = [str(e)]
            checks.setdefault(bench, {})[server.name] = found or "ok"
            status = "ok" if not found else "FAILED"
            print(f"check {bench:4} {server.name:50} {status}", file=sys.stderr, flush=True)
            problems += [f"{bench}: {server.name}: {p}" for p in found]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"rounds": args.rounds, "duration_s": args.duration, "benches": list(chosen),
            "servers": {b: [s.name for s in g] for b, g in chosen.items()},
            "kairos": args.kairos, "only": args.only, "server_core": SERVER_CORE,
            "load_core": LOAD_CORE, "ws_connections": args.ws_connections, "size": args.size,
            "idle": args.idle, "hold_s": args.hold, "h2_clients": args.h2_clients,
            "h2_streams": args.h2_streams, "tls_connections": args.tls_connections,
            "certificate": "openssl req -x509, ECDSA P-256, self-signed", "checks": checks}
    if problems:
        out.write_text(json.dumps({"meta": meta, "failed": problems}, indent=1))
        kairos_failed = any(p.split(": ", 2)[1] == KAIROS for p in problems)
        hint = ("\n(kairos serve lacks what issue 15 adds? `--only peers` measures the peers alone; "
                "`--bench` picks the benchmarks it can already run)") if kairos_failed else ""
        raise SystemExit("the checks failed; nothing was measured:\n  " + "\n  ".join(problems) + hint)

    # 2. The rounds, interleaved: A B C, then C B A.
    results = {bench: {s.name: [] for s in group} for bench, group in chosen.items()}
    measure = {"ws": lambda r: measure_ws(r, args), "h2c": lambda r: measure_h2c(r, args),
               "tls": lambda r: measure_tls(r, args, cert)}
    for rnd in range(args.rounds):
        for bench, group in chosen.items():
            for server in (group if rnd % 2 == 0 else list(reversed(group))):
                try:
                    with Running(server, work_dir) as running:
                        result = measure[bench](running)
                except Failed as e:
                    raise SystemExit(f"round {rnd + 1}, {bench}: {server.name}: {e}")
                results[bench][server.name].append(result)
                print(f"round {rnd + 1} {bench:4} {server.name:50} {summary_line(bench, result)}",
                      file=sys.stderr, flush=True)

    meta.update(elapsed_s=round(time.time() - started), loadavg_start=loadavg_start,
                loadavg_end=os.getloadavg())
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    lines = [f"## Issue 15: WebSockets, HTTP/2 and TLS ({time.strftime('%Y-%m-%d')}, "
             f"{meta['elapsed_s']} s, load average {loadavg_start[0]:.2f} at the start)", ""]
    for bench, group in results.items():
        lines += table(bench, group, args)
    print("\n".join(lines))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
