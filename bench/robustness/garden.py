#!/usr/bin/env python3
"""HTTP Garden's request mutator, run standalone against running servers, bounded.

    python3 bench/robustness/garden.py GARDEN_DIR NAME=HOST:PORT [NAME=HOST:PORT ...]
                                       [--count N] [--seed S] [--timeout S] [--jobs N]

The HTTP Garden (narfindustries/http-garden) is a differential fuzzer: its servers run in
docker, each patched to echo back how it parsed a request, and its fuzzer compares those
parses. Neither the docker images nor the echoing apply here, but its mutator
(`tools/mutations.py`, pure Python) does: it rewrites a stream of requests byte by byte
(deletes, replaces, inserts CR/LF/NUL/':'/HTAB/SP), header by header (inserts
Content-Length: 0, Transfer-Encoding: chunked/identity, empty names...), re-chunks bodies,
shifts the boundaries between requests, duplicates and splits them. GARDEN_DIR is a copy of
the repository (not vendored here); nothing of its docker side is used.

Each target gets the same N mutants (the seed fixes them), one connection per mutant, each
part sent 50 ms apart. What is checked, per target, with only the responses to go on:
  - every answer parses as HTTP/1.1 (no garbage, no crash);
  - nothing is answered after an error that ends the connection (400, 411, 413, 414, 431,
    501, 505): a response after one means bytes past a bad message were read as a request;
  - the server is still answering a plain GET promptly at the end.
The first two are the smuggling signals. Then the targets are compared mutant by mutant
(accepted / refused / silent), and the disagreements are counted and a few shown, for
triage: a disagreement is not a bug by itself (strict and lenient servers differ by design).

Exits 1 if a target shows a smuggling signal or dies, 0 otherwise. Needs Python 3.11+ (the
Garden's util.py needs 3.12; the mutator needs only its `translate`, provided here).
"""

import argparse
import concurrent.futures
import os
import random
import socket
import sys
import time
import types
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import FATAL, parse_responses  # noqa: E402


SEEDS = [
    [b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"],
    [b"POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"],
    [b"POST /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n"],
    [b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"],
    [b"POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
     b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"],
]


def load_mutator(garden_dir):
    tools = os.path.join(garden_dir, "tools")
    if not os.path.exists(os.path.join(tools, "mutations.py")):
        raise SystemExit(f"no tools/mutations.py under {garden_dir}")
    # util.py uses Python 3.12 syntax; http1.py imports only `translate` from it.
    util = types.ModuleType("util")

    def translate(b, tr):
        for k, v in tr.items():
            b = b.replace(k, v)
        return b

    util.translate = translate
    sys.modules.setdefault("util", util)
    sys.path.insert(0, tools)
    import mutations  # noqa: E402
    return mutations


def make_mutants(mutations, count, seed):
    random.seed(seed)
    out = []
    while len(out) < count:
        stream = list(random.choice(SEEDS))
        for _ in range(random.randint(1, 3)):
            try:
                stream = mutations.mutate(stream)
            except (AssertionError, ValueError, IndexError):
                break
        stream = [part for part in stream if part]
        if stream:
            out.append(stream)
    return out


def send(addr, parts, timeout):
    """(statuses, closed, garbage) for one mutant."""
    buf, closed = b"", False
    try:
        s = socket.create_connection(addr, timeout=timeout)
    except OSError:
        return None
    with s:
        try:
            for n, part in enumerate(parts):
                if n:
                    time.sleep(0.05)
                s.sendall(part)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        quiet_after = None
        while True:
            now = time.monotonic()
            wait = deadline - now
            if quiet_after:
                wait = min(wait, quiet_after - now)
            if wait <= 0:
                break
            s.settimeout(wait)
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not data:
                closed = True
                break
            buf += data
            quiet_after = time.monotonic() + 0.3  # answered: wait a little for more
    responses, rest = parse_responses(buf, False)
    return [r.status for r in responses], closed, rest is None


def classify(result):
    if result is None:
        return "unreachable"
    statuses, closed, garbage = result
    if garbage:
        return "garbage"
    if not statuses:
        return "silent-close" if closed else "silent"
    return "refused" if any(s in FATAL for s in statuses) else "accepted"


def signal(result):
    if result is None:
        return None
    statuses, _, garbage = result
    if garbage:
        return "answer is not HTTP"
    for i, s in enumerate(statuses[:-1]):
        if s in FATAL:
            return f"answered after {s}"
    return None


def alive(addr):
    try:
        with socket.create_connection(addr, timeout=2) as s:
            s.settimeout(2)
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("garden_dir")
    parser.add_argument("targets", nargs="+", help="NAME=HOST:PORT")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=1.5)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    targets = []
    for t in args.targets:
        name, _, hp = t.partition("=")
        host, _, port = hp.rpartition(":")
        targets.append((name, (host or "127.0.0.1", int(port))))

    mutants = make_mutants(load_mutator(args.garden_dir), args.count, args.seed)
    started = time.monotonic()
    results = {}
    for name, addr in targets:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            results[name] = list(pool.map(lambda m: send(addr, m, args.timeout), mutants))
    elapsed = time.monotonic() - started

    print(f"### HTTP Garden mutator: {len(mutants)} mutants (seed {args.seed}), "
          f"{len(targets)} target(s), {elapsed:.0f} s\n")
    print("| target | accepted | refused | silent | silent, closed | not HTTP | unreachable | "
          "smuggling signals | alive after |")
    print("|---|---|---|---|---|---|---|---|---|")
    bad = False
    examples = {}
    for name, addr in targets:
        kinds = Counter(classify(r) for r in results[name])
        sigs = [(i, signal(r)) for i, r in enumerate(results[name]) if signal(r)]
        ok = alive(addr)
        bad |= bool(sigs) or not ok or kinds["unreachable"] > 0
        examples[name] = sigs[:3]
        print(f"| {name} | {kinds['accepted']} | {kinds['refused']} | {kinds['silent']} | "
              f"{kinds['silent-close']} | {kinds['garbage']} | {kinds['unreachable']} | {len(sigs)} | "
              f"{'yes' if ok else 'NO'} |")
    for name, sigs in examples.items():
        for i, why in sigs:
            print(f"\n{name}, mutant {i}: {why}: `{b'|'.join(mutants[i])!r}` -> "
                  f"{results[name][i][0]}")
    if len(targets) > 1:
        first = targets[0][0]
        print(f"\n#### {first} against the others, mutant by mutant\n")
        print("| other | same outcome | differ | examples (mutant: ours / theirs) |")
        print("|---|---|---|---|")
        for name, _ in targets[1:]:
            diff = [i for i in range(len(mutants))
                    if classify(results[first][i]) != classify(results[name][i])]
            shown = "; ".join(f"{i}: {classify(results[first][i])} / "
                              f"{classify(results[name][i])}" for i in diff[:4])
            print(f"| {name} | {len(mutants) - len(diff)} | {len(diff)} | {shown} |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
