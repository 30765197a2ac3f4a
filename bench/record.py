#!/usr/bin/env python3
"""Issue 17's HTTP benchmark: what the loop's recording costs a request. `kairos serve` with
its recording on (the default: every poll, wake, request and pool job kept) and off
(`--record-events 0`), GET /plaintext and GET /json at 64 connections, in interleaved rounds,
the server pinned to one core and wrk to the other; CPU per request from the server's own
utime + stime.

Usage: python3 bench/record.py --kairos target/release/kairos [--duration 5] [--rounds 3]
(bench/record.sh builds kairos and runs this.)
"""
import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (the servers' start/stop, wrk and CPU accounting are suite.py's)

CONNECTIONS = 64
PATHS = ("/plaintext", "/json")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kairos", required=True)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(suite.ROOT / "bench/out/record.json"))
    args = parser.parse_args()

    database = Path(tempfile.mkdtemp()) / "record-bench.db"
    flags = ["serve", "--bind", f"127.0.0.1:{suite.PORT}", "--log-level", "warn",
             "--database-url", f"sqlite://{database}?mode=rwc"]
    servers = [suite.Server("recording off", [args.kairos, *flags, "--record-events", "0"]),
               suite.Server("recording on", [args.kairos, *flags])]
    results = {(s.name, path): [] for s in servers for path in PATHS}
    log = open(suite.ROOT / "bench/out/record.log", "w")
    for round_ in range(args.rounds):
        # Interleaved, and the order alternates: off on, on off, ...
        order = servers if round_ % 2 == 0 else list(reversed(servers))
        for server in order:
            with suite.Running(server, log) as running:
                for path in PATHS:
                    suite.wrk(path=path, connections=CONNECTIONS, duration=1)  # warm-up
                    before = suite.cpu_seconds(running.pid)
                    result = suite.wrk(path=path, connections=CONNECTIONS, duration=args.duration)
                    cpu = suite.cpu_seconds(running.pid) - before
                    result["cpu_us_per_request"] = cpu / max(result["requests"], 1) * 1e6
                    results[(server.name, path)].append(result)
                    print(f"round {round_ + 1}: {server.name:14} {path:10} {result['rps']:>10,.0f} req/s "
                          f"{result['cpu_us_per_request']:6.2f} µs CPU/req non-2xx {result['non_2xx']}",
                          flush=True)

    print(f"\n{args.rounds} rounds of {args.duration} s, c={CONNECTIONS}, medians; "
          f"on/off per round in brackets:")
    print("| route | off: req/s | off: CPU µs/req | on: req/s | on: CPU µs/req | on / off (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    summary = {}
    for path in PATHS:
        off, on = results[("recording off", path)], results[("recording on", path)]
        ratios = [b["cpu_us_per_request"] / a["cpu_us_per_request"] for a, b in zip(off, on)]
        med = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
        ratio = med(on, "cpu_us_per_request") / med(off, "cpu_us_per_request")
        summary[path] = {"ratio": ratio, "per_round": ratios}
        print(f"| `{path}` | {med(off, 'rps'):,.0f} | {med(off, 'cpu_us_per_request'):.2f} | "
              f"{med(on, 'rps'):,.0f} | {med(on, 'cpu_us_per_request'):.2f} | **{ratio:.3f}x** "
              f"({', '.join(f'{r:.3f}' for r in ratios)}) |")
    Path(args.out).write_text(json.dumps(
        {"results": {f"{k[0]} {k[1]}": v for k, v in results.items()}, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
