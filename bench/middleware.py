#!/usr/bin/env python3
"""Issue 14's side-by-side benchmarks: kairos-web against axum with the same tower-http
layers, in interleaved rounds, each server pinned to one core and wrk to the other.

  middleware   GET /plaintext bare and through three layers (request id, trace, CORS):
               the layers' CPU per request is (layered - bare), per framework.
  compression  GET /json100k (~100 KB of JSON) with Accept-Encoding: gzip, through kairos-web's
               Compression and tower-http's CompressionLayer (default levels): CPU per request.

Usage: python3 bench/middleware.py --bin-dir bench/peers/target/release [--duration 5] [--rounds 3]
(bench/middleware.sh builds the peers and runs this.)
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (the servers' start/stop, wrk and CPU accounting are suite.py's)

CONNECTIONS = 64


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(suite.ROOT / "bench/out/middleware.json"))
    args = parser.parse_args()

    servers = [suite.Server(f"{framework} {mode}",
                            [f"{args.bin_dir}/peer_middleware", framework, mode, str(suite.PORT)])
               for framework in ("kairos", "axum") for mode in ("none", "layers", "compression")]
    results = {server.name: [] for server in servers}
    log = open(suite.ROOT / "bench/out/middleware.log", "w")
    check_same_answer([s for s in servers if s.name.endswith("compression")], log)
    for round_ in range(args.rounds):
        for server in servers:
            compressing = server.name.endswith("compression")
            how = dict(path="/json100k", headers=("Accept-Encoding: gzip",)) if compressing \
                else dict(path="/plaintext")
            with suite.Running(server, log) as running:
                suite.wrk(connections=CONNECTIONS, duration=1, **how)  # warm-up
                before = suite.cpu_seconds(running.pid)
                result = suite.wrk(connections=CONNECTIONS, duration=args.duration, **how)
                cpu = suite.cpu_seconds(running.pid) - before
                result["cpu_us_per_request"] = cpu / max(result["requests"], 1) * 1e6
                results[server.name].append(result)
                print(f"round {round_ + 1}: {server.name:18} {how['path']:10} {result['rps']:>10,.0f} req/s "
                      f"{result['cpu_us_per_request']:8.2f} µs CPU/req "
                      f"non-2xx {result['non_2xx']}", flush=True)

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    print(f"\nGET /plaintext c={CONNECTIONS}, {args.rounds} rounds of {args.duration} s, medians:")
    print(f"| server | req/s | CPU µs/req |\n|---|---:|---:|")
    for server in servers:
        print(f"| {server.name} | {median(server.name, 'rps'):,.0f} | "
              f"{median(server.name, 'cpu_us_per_request'):.2f} |")
    cost = {framework: median(f"{framework} layers", "cpu_us_per_request")
            - median(f"{framework} none", "cpu_us_per_request") for framework in ("kairos", "axum")}
    # Per round too: the cost measured in the same round, where the machine's state is shared.
    per_round = [
        (results["kairos layers"][i]["cpu_us_per_request"] - results["kairos none"][i]["cpu_us_per_request"])
        / max(results["axum layers"][i]["cpu_us_per_request"] - results["axum none"][i]["cpu_us_per_request"], 1e-9)
        for i in range(args.rounds)]
    print(f"\nthree layers' CPU per request: kairos {cost['kairos']:.2f} µs, axum {cost['axum']:.2f} µs "
          f"(kairos/axum {cost['kairos'] / cost['axum']:.2f}; per round "
          f"{', '.join(f'{r:.2f}' for r in per_round)})")
    gzip = {framework: median(f"{framework} compression", "cpu_us_per_request")
            for framework in ("kairos", "axum")}
    gzip_rounds = [results["kairos compression"][i]["cpu_us_per_request"]
                   / results["axum compression"][i]["cpu_us_per_request"] for i in range(args.rounds)]
    print(f"gzip of 100 KB of JSON, CPU per request: kairos {gzip['kairos']:.1f} µs, axum "
          f"{gzip['axum']:.1f} µs (kairos/axum {gzip['kairos'] / gzip['axum']:.2f}; per round "
          f"{', '.join(f'{r:.2f}' for r in gzip_rounds)})")
    Path(args.out).write_text(json.dumps({"results": results, "layer_cost_us": cost,
                                          "ratio_per_round": per_round, "gzip_cpu_us": gzip,
                                          "gzip_ratio_per_round": gzip_rounds}, indent=2))


def check_same_answer(servers, log):
    """Before measuring: each server's gzip answer decodes to the same document."""
    import gzip as gzip_module
    import hashlib
    import urllib.request
    digests = {}
    for server in servers:
        with suite.Running(server, log):
            request = urllib.request.Request(suite.url("/json100k"), headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request) as answer:
                encoding = answer.headers.get("Content-Encoding")
                body = answer.read()
            if encoding != "gzip":
                raise SystemExit(f"{server.name} answered /json100k with Content-Encoding {encoding!r}")
            digests[server.name] = (hashlib.sha256(gzip_module.decompress(body)).hexdigest(), len(body))
    print("compression check: " + "; ".join(f"{name}: {len_} bytes gzip, sha256 {d[:12]}"
                                             for name, (d, len_) in digests.items()), flush=True)
    if len({d for d, _ in digests.values()}) != 1:
        raise SystemExit(f"the servers' decoded documents differ: {digests}")


if __name__ == "__main__":
    main()
