#!/usr/bin/env python3
"""The kairos-rt vs tokio table for BENCHMARKS.md, from bench/rt_bench.sh's raw runs.

Usage: python3 bench/rt_report.py bench/out/rt/runs.jsonl bench/out/rt/output.txt

For each group: the median over rounds of `kairos` (stall detector on, the default),
`kairos-nodetect`, `kairos-record` (every poll recorded) and `tokio`; the ratio tokio / kairos
(above 1: kairos is faster); the stall detector's overhead (kairos / kairos-nodetect - 1) and
the recording's (kairos-record / kairos - 1). Peak-heap lines that the bench binary
prints ("peak-heap group/name: N bytes") are read from the bench output.
"""
import collections
import json
import re
import statistics
import sys

runs_path, output_path = sys.argv[1], sys.argv[2]
medians = collections.defaultdict(list)
order = []
for line in open(runs_path):
    run = json.loads(line)
    key = (run["group"], run["variant"])
    medians[key].append(run["median_ns"])
    if run["group"] not in order:
        order.append(run["group"])


def value(group, variant):
    samples = medians.get((group, variant))
    return statistics.median(samples) if samples else None


def fmt(ns):
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


print("| benchmark | kairos | kairos, detector off | kairos, recording | tokio current-thread "
      "| tokio / kairos | detector overhead | recording overhead |")
print("|---|---|---|---|---|---|---|---|")
for group in order:
    k, n, r, t = (value(group, v) for v in ("kairos", "kairos-nodetect", "kairos-record", "tokio"))
    ratio = f"**{t / k:.2f}x**" if k and t else "—"
    overhead = f"{(k / n - 1) * 100:+.1f}%" if k and n else "—"
    recording = f"{(r / k - 1) * 100:+.1f}%" if k and r else "—"
    print(f"| {group} | {fmt(k)} | {fmt(n)} | {fmt(r)} | {fmt(t)} | {ratio} | {overhead} | {recording} |")

peaks = collections.defaultdict(list)
for group, name, bytes_ in re.findall(r"peak-heap (\S+)/(\S+): (\d+) bytes", open(output_path).read()):
    peaks[name].append(int(bytes_))
if peaks:
    print()
    print("| peak heap, 100,000 concurrent sleeps | total | per task |")
    print("|---|---|---|")
    for name, samples in peaks.items():
        b = statistics.median(samples)
        print(f"| {name} | {b / 2**20:.1f} MiB | {b / 100_000:.0f} B |")

print()
ratios = {g: value(g, "tokio") / value(g, "kairos") for g in order
          if value(g, "tokio") and value(g, "kairos")}
if ratios:
    slowest = min(ratios, key=ratios.get)
    print(f"Goal — kairos faster than tokio on every benchmark: "
          f"{'**met**' if all(r > 1 for r in ratios.values()) else '**not met**'} "
          f"({min(ratios.values()):.2f}x to {max(ratios.values()):.2f}x; closest: {slowest}).")
overheads = {g: value(g, "kairos") / value(g, "kairos-nodetect") - 1 for g in order
             if g.startswith(("spawn", "yield")) and value(g, "kairos") and value(g, "kairos-nodetect")}
recording = {g: value(g, "kairos-record") / value(g, "kairos") - 1 for g in order
             if value(g, "kairos-record") and value(g, "kairos")}
if overheads:
    print(f"Goal — stall detector overhead under 2% on spawn and yield: "
          f"{'**met**' if all(o < 0.02 for o in overheads.values()) else '**not met**'} "
          f"({', '.join(f'{g} {o:+.1%}' for g, o in overheads.items())}).")
if recording:
    print(f"Goal — recording overhead under 3%: "
          f"{'**met**' if all(o < 0.03 for o in recording.values()) else '**not met**'} "
          f"({', '.join(f'{g} {o:+.1%}' for g, o in recording.items())}).")
