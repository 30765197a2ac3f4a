#!/usr/bin/env python3
"""Turns `bench/out/http.json` (from bench/suite.py) into the HTTP part of the report:
tables side by side, then each goal of the benchmark issue with its ratio and verdict.

    python3 bench/report.py bench/out/http.json > section.md
"""
import json
import statistics
import sys

KAIROS, BARE, HYPER, AXUM, FASTAPI, FLOOR = (
    "kairos serve", "kairos-http (bare)", "hyper (tokio, per-core current-thread)",
    "axum (tokio multi-thread)", "FastAPI (uvicorn, uvloop, httptools)", "bare-socket floor (epoll)")


def median(rounds, key):
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, unit="", digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


class Report:
    def __init__(self, data):
        self.meta = data["meta"]
        self.results = data["results"]
        self.lines = []
        self.goals = []  # (goal, measured, verdict)

    def out(self, line=""):
        self.lines.append(line)

    def throughput(self, server, scenario, key):
        rounds = self.results.get(server, {}).get("rounds", {}).get(scenario)
        return median(rounds, key) if rounds else None

    def behaviour(self, server, scenario):
        return self.results.get(server, {}).get("behaviour", {}).get(scenario)

    def servers(self):
        return list(self.results)

    # -----------------------------------------------------------------------------------------
    def throughput_tables(self):
        scenarios = []
        for server in self.servers():
            for scenario in self.results[server]["rounds"]:
                if scenario not in scenarios:
                    scenarios.append(scenario)
        self.out("### Throughput and CPU per request")
        self.out()
        self.out(f"Median of {self.meta['rounds']} interleaved round(s), {self.meta['duration_s']} s per "
                 "scenario; server on core 0, `wrk -t1` on core 1. *CPU/req* is the server's CPU time "
                 "(all threads and processes, from /proc) divided by the requests served — the figure "
                 "that separates servers when one wrk thread is the bottleneck. Pipelined: 16 requests "
                 "per write (`bench/pipeline.lua`). `GET /items/{id}`: a random id of 1,000 seeded rows "
                 "per request (`bench/items.lua`), each server on its usual driver (kairos serve and "
                 "axum: sqlx `Any`, 5 connections; FastAPI: aiosqlite, 5 connections, or asyncpg's "
                 "pool of 5); PostgreSQL runs on the server's core, its CPU per request in "
                 "parentheses (not in the ratio). `GET /cached`: a hit (kairos-cache, moka for "
                 "axum, aiocache's memory backend for FastAPI).")
        self.out()
        self.out("| scenario | server | req/s | p50 | p99 | CPU/req | req/s vs kairos serve | CPU/req vs kairos serve |")
        self.out("|---|---|---|---|---|---|---|---|")
        for scenario in scenarios:
            base_rps = self.throughput(KAIROS, scenario, "rps")
            base_cpu = self.throughput(KAIROS, scenario, "cpu_us_per_request")
            for server in self.servers():
                rps = self.throughput(server, scenario, "rps")
                if rps is None:
                    continue
                cpu = self.throughput(server, scenario, "cpu_us_per_request")
                db_cpu = self.throughput(server, scenario, "db_cpu_us_per_request")
                errors = sum(r["non_2xx"] + r["socket_errors"] for r in self.results[server]["rounds"][scenario])
                note = f" ({errors} errors)" if errors else ""
                rel = "—" if server == KAIROS or not base_rps else f"{rps / base_rps:.2f}x"
                rel_cpu = "—" if server == KAIROS or not base_cpu else f"{cpu / base_cpu:.2f}x"
                self.out(f"| `{scenario}` | {server} | {fmt(rps)}{note} | "
                         f"{fmt(self.throughput(server, scenario, 'p50_ms'), ' ms', 2)} | "
                         f"{fmt(self.throughput(server, scenario, 'p99_ms'), ' ms', 2)} | "
                         f"{fmt(cpu, ' µs', 2)}"
                         + (f" (+ {fmt(db_cpu, ' µs', 2)} in PostgreSQL)" if db_cpu is not None else "")
                         + f" | {rel} | {rel_cpu} |")
        self.out()

    def before_after_table(self):
        """kairos serve against another build of itself (`--kairos-before`), round by round.

        The two run next to each other in every round, so the ratio of a round compares them
        under the same state of the machine; the median of those ratios is steadier than the
        ratio of two medians when the machine drifts between rounds."""
        before = KAIROS + " (before)"
        if before not in self.results:
            return
        self.out("### kairos serve against its previous build, round by round")
        self.out()
        self.out("Each round's CPU/req of this build divided by the previous build's, measured side by "
                 "side in that round; the median of the rounds, and their range.")
        self.out()
        self.out("| scenario | CPU/req ratio (median) | rounds |")
        self.out("|---|---|---|")
        for scenario, now in self.results[KAIROS]["rounds"].items():
            then = self.results[before]["rounds"].get(scenario)
            if not then:
                continue
            ratios = [a["cpu_us_per_request"] / b["cpu_us_per_request"]
                      for a, b in zip(now, then)
                      if a.get("cpu_us_per_request") and b.get("cpu_us_per_request")]
            if ratios:
                listed = ", ".join(f"{r:.3f}" for r in ratios)
                self.out(f"| `{scenario}` | {statistics.median(ratios):.3f}x | {listed} |")
        self.out()

    def memory_table(self):
        self.out("### Memory")
        self.out()
        self.out("Resident set of the server's process tree: idle after start, peak (VmHWM) after the "
                 "throughput scenarios (up to 256 connections), peak after everything (1,000 streams "
                 "and 1,000 sleeping connections included). For FastAPI this counts uvicorn and, "
                 "after /cpu, its process pool.")
        self.out()
        self.out("| server | idle | peak under /plaintext load | peak overall |")
        self.out("|---|---|---|---|")
        for server in self.servers():
            m = self.results[server]["memory"]
            idle = statistics.median(m["idle_rss_kib"]) / 1024 if m.get("idle_rss_kib") else None
            peak = max(m["peak_rss_kib_plaintext_load"]) / 1024 if m.get("peak_rss_kib_plaintext_load") else None
            overall = m["peak_rss_kib_all"] / 1024 if m.get("peak_rss_kib_all") else None
            self.out(f"| {server} | {fmt(idle, ' MiB', 1)} | {fmt(peak, ' MiB', 1)} | {fmt(overall, ' MiB', 1)} |")
        self.out()

    def behaviour_tables(self):
        full = [s for s in self.servers() if self.results[s]["behaviour"]]
        if not full:
            return
        self.out("### The chapter's scenarios")
        self.out()
        self.out("| scenario | ideal | " + " | ".join(full) + " |")
        self.out("|---|---|" + "---|" * len(full))

        def row(label, ideal, cell):
            cells = []
            for server in full:
                try:
                    cells.append(cell(server))
                except (KeyError, TypeError):
                    cells.append("—")
            self.out(f"| {label} | {ideal} | " + " | ".join(cells) + " |")

        for conns in (256, 1000):
            sc = f"/async?ms=100 c={conns}"
            row(f"`{sc}` req/s", f"{conns * 10:,}", lambda s, sc=sc: fmt(self.behaviour(s, sc)["rps"]))
        row("`/sync?ms=100 c=256` req/s (40 pool tokens)", "400",
            lambda s: fmt(self.behaviour(s, "/sync?ms=100 c=256")["rps"]))
        for route in ("bad", "good"):
            sc = f"/{route} c=16"
            # /bad: one loop, 150 ms each; /good: the default executor's min(32, cores + 4)
            # threads, 5 on the one core the server is pinned to.
            row(f"`{sc}` (each blocking 150 ms) req/s", "6.7" if route == "bad" else "33",
                lambda s, sc=sc: fmt(self.behaviour(s, sc)["rps"], digits=1))
            row(f"`{sc}`: a new connection's /plaintext, p50 / max", "—" if route == "bad" else "≈ 0",
                lambda s, sc=sc: self.probe_cell(self.behaviour(s, sc)["probe"]))
        row("`/bad`: blocking polls reported by the stall detector / requests served", "all",
            lambda s: f"{self.behaviour(s, '/bad c=16')['slow_polls_reported']} / "
                      f"{self.behaviour(s, '/bad c=16')['requests']}")
        stream = self.stream_key(full)
        if stream:
            row(f"`{stream}` × 20 events @ 100 ms: wall", "1.90 s",
                lambda s: fmt(self.behaviour(s, stream)["wall_s"], " s", 2))
            row("… worst time to first event", "< 50 ms",
                lambda s: fmt(self.behaviour(s, stream)["first_event_ms"]["max"], " ms", 1))
            row("… events received / expected", "all",
                lambda s: f"{self.behaviour(s, stream)['events_received']:,} / "
                          f"{self.behaviour(s, stream)['events_expected']:,}")
        ext = "/external n=20 limit=5 ms=200"
        row(f"`{ext}`: elapsed (median, in the answer)", "0.80 s",
            lambda s: fmt(self.external_elapsed(s), " s", 3))
        for pool in ("process", "thread", "inline"):
            for count in (1, 2):
                sc = f"/cpu pool={pool} x{count}"
                row(f"`{sc}`: wall / /plaintext probe max", "—",
                    lambda s, sc=sc: f"{fmt(self.behaviour(s, sc)['wall_ms'], ' ms')} / "
                                     f"{fmt(self.behaviour(s, sc)['probe']['latency_ms']['max'], ' ms', 1)}")
        self.out()
        self.out("`/cpu` sizes: Rust servers sum 200,000,000 squares; FastAPI 10,000,000 (Python's loop "
                 "is ~200x slower per step, so its jobs last ~10x as long). On one pinned core two jobs cannot "
                 "run in parallel; the point is the probe: the loop must stay responsive.")
        self.out()

    def stream_key(self, servers):
        for server in servers:
            for key in self.results[server]["behaviour"]:
                if key.startswith("/stream"):
                    return key
        return None

    @staticmethod
    def probe_cell(probe):
        lat = probe["latency_ms"]
        lost = probe["sent"] - probe["completed"]
        return f"{fmt(lat['p50'], ' ms', 1)} / {fmt(lat['max'], ' ms', 1)}" + (f" ({lost} lost)" if lost else "")

    def external_elapsed(self, server):
        answer = self.behaviour(server, "/external n=20 limit=5 ms=200")
        values = [b["elapsed_s"] for b in answer["bodies"] if isinstance(b, dict) and "elapsed_s" in b]
        return statistics.median(values) if values else None

    def contract_table(self):
        """Issue 12's scenario: the three servers that serve POST /contract, with the two
        ratios its goals are about."""
        scenario = self.contract_scenario()
        if not scenario:
            return
        base_rps = self.throughput(KAIROS, scenario, "rps")
        base_cpu = self.throughput(KAIROS, scenario, "cpu_us_per_request")
        self.out(f"### `{scenario}`: a validated body through two dependencies (issue 12)")
        self.out()
        self.out("A JSON body of ten constrained fields (ints with ge/le, floats with gt/lt, strings "
                 "with min/max length and a pattern, an enum, a literal, a list of 1 to 5, an optional "
                 "and a default) through two chained dependencies (`RequestContext` from a validated "
                 "`x-request-id` header, `Tenant` from it), answered with a JSON echo: kairos "
                 "(schemars + jsonschema), FastAPI (pydantic v2 `Field`s, `Depends`), axum (the same "
                 "schemars + jsonschema in an extractor, two extractors for the dependencies). "
                 "`wrk -s bench/post_contract.lua`, the same body every request; the answers were "
                 "checked to agree before measuring. Median of the rounds.")
        self.out()
        self.out("| server | req/s | p50 | p99 | CPU/req | kairos' req/s is | kairos' CPU/req is |")
        self.out("|---|---|---|---|---|---|---|")
        for server in self.servers():
            rps = self.throughput(server, scenario, "rps")
            if rps is None:
                continue
            cpu = self.throughput(server, scenario, "cpu_us_per_request")
            errors = sum(r["non_2xx"] + r["socket_errors"] for r in self.results[server]["rounds"][scenario])
            note = f" ({errors} errors)" if errors else ""
            rel = "—" if server == KAIROS or not base_rps else f"{base_rps / rps:.2f}x its"
            rel_cpu = "—" if server == KAIROS or not base_cpu else f"{base_cpu / cpu:.2f}x its"
            self.out(f"| {server} | {fmt(rps)}{note} | "
                     f"{fmt(self.throughput(server, scenario, 'p50_ms'), ' ms', 2)} | "
                     f"{fmt(self.throughput(server, scenario, 'p99_ms'), ' ms', 2)} | "
                     f"{fmt(cpu, ' µs', 2)} | {rel} | {rel_cpu} |")
        self.out()
        rounds = {s: self.results[s]["rounds"].get(scenario) for s in (KAIROS, AXUM, FASTAPI)}
        if all(rounds.values()):
            self.out("Round by round (each round runs the three side by side): kairos/FastAPI req/s, "
                     "kairos/axum CPU/req: " + "; ".join(
                         f"{k['rps'] / f['rps']:.1f}x, {k['cpu_us_per_request'] / a['cpu_us_per_request']:.2f}x"
                         for k, a, f in zip(rounds[KAIROS], rounds[AXUM], rounds[FASTAPI])) + ".")
            self.out()
        load = (self.meta.get("loadavg_start"), self.meta.get("loadavg_end"))
        if all(load):
            self.out(f"Load average (1 min) of the machine at the start and the end of the run: "
                     f"{load[0][0]:.2f}, {load[1][0]:.2f} (the server and wrk account for up to 2).")
            self.out()

    def contract_scenario(self):
        for server in self.servers():
            for scenario in self.results[server]["rounds"]:
                if scenario.startswith("POST /contract"):
                    return scenario
        return None

    # -----------------------------------------------------------------------------------------
    def goal(self, text, measured, met):
        verdict = "—" if met is None else ("**met**" if met else "**not met**")
        self.goals.append((text, measured, verdict))

    def check_goals(self):
        self.contract_goals()
        self.plain_goals()

    def contract_goals(self):
        scenario = self.contract_scenario()
        if not scenario:
            return
        k_rps, a_rps, f_rps = (self.throughput(s, scenario, "rps") for s in (KAIROS, AXUM, FASTAPI))
        k_cpu, a_cpu, f_cpu = (self.throughput(s, scenario, "cpu_us_per_request")
                               for s in (KAIROS, AXUM, FASTAPI))
        if k_rps and f_rps:
            self.goal(f"`{scenario}`: ≥ 10x FastAPI's throughput (issue 12)",
                      f"{k_rps:,.0f} vs {f_rps:,.0f} req/s ({k_rps / f_rps:.1f}x); CPU/req "
                      f"{k_cpu:.1f} vs {f_cpu:.1f} µs ({f_cpu / k_cpu:.1f}x less)",
                      k_rps >= 10 * f_rps)
        if k_cpu and a_cpu:
            self.goal(f"`{scenario}`: CPU per request ≤ axum's with the same validation crates (issue 12)",
                      f"{k_cpu:.2f} vs {a_cpu:.2f} µs ({k_cpu / a_cpu:.2f}x); req/s {k_rps:,.0f} vs {a_rps:,.0f}",
                      k_cpu <= a_cpu)

    def plain_goals(self):
        plain = [s for s in ("/plaintext c=64", "/plaintext c=256", "/json c=64", "/json c=256")]
        k = {s: self.throughput(KAIROS, s, "cpu_us_per_request") for s in plain}
        h = {s: self.throughput(HYPER, s, "cpu_us_per_request") for s in plain}
        f = {s: self.throughput(FLOOR, s, "cpu_us_per_request") for s in plain}
        if all(k.values()) and all(h.values()):
            ratios = [k[s] / h[s] for s in plain]
            self.goal("CPU per request on /plaintext and /json ≤ hyper-on-tokio's",
                      ", ".join(f"{s}: {k[s]:.2f} vs {h[s]:.2f} µs ({r:.2f}x)" for s, r in zip(plain, ratios)),
                      max(ratios) <= 1.0)
        if all(k.values()) and all(f.values()):
            ratios = [k[s] / f[s] for s in plain]
            self.goal("CPU per request ≤ 1.1x the bare-socket floor",
                      ", ".join(f"{s}: {r:.2f}x" for s, r in zip(plain, ratios)), max(ratios) <= 1.1)
        piped = ["/plaintext c=256 pipelined 16", "/json c=256 pipelined 16"]
        kp = {s: self.throughput(KAIROS, s, "rps") for s in piped}
        hp = {s: self.throughput(HYPER, s, "rps") for s in piped}
        fp = {s: self.throughput(FLOOR, s, "rps") for s in piped}
        if all(kp.values()) and all(hp.values()):
            self.goal("Pipelined throughput ≥ hyper-on-tokio's",
                      ", ".join(f"{s}: {kp[s]:,.0f} vs {hp[s]:,.0f} ({kp[s] / hp[s]:.2f}x)" for s in piped),
                      all(kp[s] >= hp[s] for s in piped))
        if all(kp.values()) and all(fp.values()):
            self.goal("Pipelined throughput ≥ 80% of the floor's",
                      ", ".join(f"{s}: {kp[s] / fp[s]:.0%}" for s in piped), all(kp[s] >= 0.8 * fp[s] for s in piped))
        fa = {s: self.throughput(FASTAPI, s, "rps") for s in plain}
        kr = {s: self.throughput(KAIROS, s, "rps") for s in plain}
        if all(fa.values()) and all(kr.values()):
            ratios = [kr[s] / fa[s] for s in plain]
            self.goal("≥ 15x FastAPI/uvicorn's throughput on /plaintext and /json",
                      ", ".join(f"{s}: {r:.1f}x" for s, r in zip(plain, ratios)), min(ratios) >= 15)
        stream = self.stream_key([KAIROS])
        st = self.behaviour(KAIROS, stream) if stream else None
        if st:
            wall, first = st["wall_s"], st["first_event_ms"]["max"]
            fast = self.behaviour(FASTAPI, stream)
            also = f"; FastAPI {fast['wall_s']:.2f} s, first event ≤ {fast['first_event_ms']['max']:.0f} ms" if fast else ""
            self.goal(f"{stream}: wall within 5% of the ideal 1.90 s, first event within 50 ms, all events",
                      f"{wall:.2f} s ({wall / 1.9 - 1:+.1%}), first event ≤ {first:.1f} ms, "
                      f"{st['events_received']:,}/{st['events_expected']:,}{also}",
                      wall <= 1.9 * 1.05 and first <= 50 and st["events_received"] == st["events_expected"])
        ext = self.external_elapsed(KAIROS) if self.behaviour(KAIROS, "/external n=20 limit=5 ms=200") else None
        if ext:
            fast = self.external_elapsed(FASTAPI) if self.behaviour(FASTAPI, "/external n=20 limit=5 ms=200") else None
            also = f"; FastAPI {fast:.3f} s" if fast else ""
            self.goal("/external n=20 limit=5: within 5% of the ideal 0.8 s",
                      f"{ext:.3f} s ({ext / 0.8 - 1:+.1%}){also}", ext <= 0.84)
        bad = self.behaviour(KAIROS, "/bad c=16")
        if bad:
            probe = bad["probe"]
            # What a newcomer must wait for in the loop's model: the turn in progress, then the
            # turn in which the acceptor runs — each up to every connection's blocking call.
            bound_ms = 2 * bad["connections"] * bad["block_ms"]
            worst = probe["latency_ms"]["max"]
            fast = self.behaviour(FASTAPI, "/bad c=16")
            also = f"; FastAPI's worst {fast['probe']['latency_ms']['max']:,.0f} ms" if fast else ""
            self.goal("/bad: a new connection is served after at most the blocking work queued before it "
                      "(two loop turns of 16 × 150 ms), never until the load stops, and each blocking "
                      "poll is reported",
                      f"worst {worst:,.0f} ms of {probe['completed']}/{probe['sent']} probes (bound {bound_ms} ms); "
                      f"{bad['slow_polls_reported']} reports for {bad['requests']} requests{also}",
                      worst <= bound_ms and probe["completed"] == probe["sent"]
                      and bad["slow_polls_reported"] >= bad["requests"])
        km = self.results.get(KAIROS, {}).get("memory", {}).get("peak_rss_kib_plaintext_load")
        hm = self.results.get(HYPER, {}).get("memory", {}).get("peak_rss_kib_plaintext_load")
        if km and hm:
            self.goal("Peak RSS of kairos serve under the /plaintext load ≤ hyper-on-tokio's",
                      f"{max(km) / 1024:.1f} MiB vs {max(hm) / 1024:.1f} MiB ({max(km) / max(hm):.2f}x)",
                      max(km) <= max(hm))

    def goals_table(self):
        self.out("### Goals")
        self.out()
        self.out("| goal | measured | verdict |")
        self.out("|---|---|---|")
        for text, measured, verdict in self.goals:
            self.out(f"| {text} | {measured} | {verdict} |")
        self.out()


def render(data):
    """The HTTP section as markdown lines: goals first, then the tables behind them."""
    report = Report(data)
    report.check_goals()
    report.goals_table()
    report.contract_table()
    report.throughput_tables()
    report.before_after_table()
    report.behaviour_tables()
    report.memory_table()
    return report.lines


def main():
    print("\n".join(render(json.load(open(sys.argv[1])))))


if __name__ == "__main__":
    main()
