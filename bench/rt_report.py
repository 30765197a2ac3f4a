#!/usr/bin/env python3
"""Turns criterion's estimates for the kairos-rt runtime benchmarks into a markdown table.

Usage: python3 bench/rt_report.py [target/criterion] [bench-output.txt]

For each benchmark group it prints the median time of `kairos` (stall detector on),
`kairos-nodetect` and `tokio`, the ratio tokio / kairos (above 1: kairos is faster), and the
stall detector's overhead (kairos / kairos-nodetect - 1). Peak-heap lines printed by the bench
binary ("peak-heap group/name: N bytes") are read from the saved bench output, if given.
"""
import json
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
output = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None
GROUPS = [
    "spawn_1m_tasks",
    "yield_ping_pong_2x100k",
    "sleep_100k_concurrent_10ms",
    "semaphore_acquire_release_100k",
    "semaphore_contended_10_tasks_2_permits",
    "thread_pool_round_trip_10k",
]


def median_ns(group, name):
    path = root / group / name / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


print("| benchmark | kairos | kairos, detector off | tokio current-thread | tokio / kairos | detector overhead |")
print("|---|---|---|---|---|---|")
for group in GROUPS:
    k, n, t = (median_ns(group, name) for name in ("kairos", "kairos-nodetect", "tokio"))
    ratio = f"{t / k:.2f}x" if k and t else "—"
    overhead = f"{(k / n - 1) * 100:+.1f}%" if k and n else "—"
    print(f"| {group} | {fmt(k)} | {fmt(n)} | {fmt(t)} | {ratio} | {overhead} |")

if output and output.exists():
    peaks = re.findall(r"peak-heap (\S+)/(\S+): (\d+) bytes", output.read_text())
    if peaks:
        print()
        print("| peak heap of 100,000 concurrent sleeps | bytes | per task |")
        print("|---|---|---|")
        for group, name, bytes_ in peaks:
            b = int(bytes_)
            print(f"| {name} | {b / 2**20:.1f} MiB | {b / 100_000:.0f} B |")
