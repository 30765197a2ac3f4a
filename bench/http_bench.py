#!/usr/bin/env python3
"""Drives bench/http_bench.sh: starts each server, loads it with wrk, reports medians."""
import argparse
import re
import socket
import statistics
import subprocess
import time

SERVERS = {
    "kairos-web": "peer_kairos_web",
    "kairos-http": "peer_kairos_http",
    "hyper (tokio current-thread)": "peer_hyper",
    "axum (tokio)": "peer_axum",
}
PORT = 18080
CLK_TCK = 100  # os.sysconf("SC_CLK_TCK") on Linux


def wait_listening(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def to_ms(value):
    """wrk prints latencies as 812.00us, 1.32ms, 2.00s or 1.05m."""
    match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if not match:
        return float("nan")
    number, unit = match.groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(path, connections, duration, pipeline=1):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
           f"http://127.0.0.1:{PORT}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{path}: {errors.group(1)} error responses")
    return rps, total, p50, p99


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2
    scenarios = [("/plaintext", 64), ("/plaintext", 256), ("/json", 64), ("/json", 256)]
    results = {}  # (server, path, conns) -> list of (rps, p50, p99, cpu_us)
    names = list(SERVERS)
    for rnd in range(args.rounds):
        order = names if rnd % 2 == 0 else list(reversed(names))
        for name in order:
            proc = subprocess.Popen(["taskset", "-c", "0", f"{args.bin_dir}/{SERVERS[name]}", str(PORT)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_listening(PORT)
                wrk("/plaintext", 64, 1)  # warm-up
                for path, conns in scenarios:
                    before = cpu_seconds(proc.pid)
                    rps, total, p50, p99 = wrk(path, conns, args.duration)
                    cpu_us = (cpu_seconds(proc.pid) - before) / total * 1e6
                    results.setdefault((name, path, conns), []).append((rps, p50, p99, cpu_us))
                    print(f"round {rnd + 1}: {name:30} {path:10} c={conns:<4} {rps:>10.0f} req/s "
                          f"p50 {p50:.2f} ms p99 {p99:.2f} ms cpu {cpu_us:.2f} us/req", flush=True)
            finally:
                proc.terminate()
                proc.wait()
                time.sleep(0.3)

    def med(name, path, conns, i):
        return statistics.median(r[i] for r in results[(name, path, conns)])

    print()
    print(f"{args.rounds} rounds x {args.duration} s per scenario; server on core 0, wrk -t1 on core 1; medians.")
    print()
    print("| scenario | server | req/s | p50 | p99 | server CPU per request | kairos-web req/s ÷ this | this CPU ÷ kairos-web CPU |")
    print("|---|---|---|---|---|---|---|---|")
    base = names[0]
    for path, conns in scenarios:
        for name in names:
            rps, p50, p99, cpu = (med(name, path, conns, i) for i in range(4))
            if name == base:
                ratio, cpu_ratio = "—", "—"
            else:
                ratio = f"{med(base, path, conns, 0) / rps:.2f}x"
                cpu_ratio = f"{cpu / med(base, path, conns, 3):.2f}x"
            print(f"| {path} c={conns} | {name} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms | "
                  f"{cpu:.2f} µs | {ratio} | {cpu_ratio} |")


if __name__ == "__main__":
    main()
