"""Python's side of bench/process_bench.sh: ProcessPoolExecutor (and ThreadPoolExecutor)
doing what crates/process/examples/process_bench.rs does with kairos, on the same machine.

    python3 bench/process_bench.py [--quick]

Standard library only (Python 3.11). Prints one JSON line per measurement, in the same shape
as the Rust example, with "impl": "python".
"""

import asyncio
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor


def noop(i):
    return i


def byte_len(data):
    return len(data)


def cpu_intensive_task(n):
    """The chapter's function (section 6.2), unchanged."""
    return sum(i * i for i in range(n))


async def measure(count, one):
    """`count` sequential round trips after a tenth as many to warm up; durations in s."""
    for i in range(count // 10):
        await one(i)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await one(i)
        samples.append(time.perf_counter() - started)
    return samples


def report_latency(bench, samples):
    ordered = sorted(samples)

    def at(q):
        return ordered[int((len(ordered) - 1) * q)] * 1e6

    print(json.dumps({"impl": "python", "bench": bench, "median_us": round(at(0.5), 2),
                      "p90_us": round(at(0.9), 2), "n": len(ordered)}), flush=True)


async def main():
    quick = "--quick" in sys.argv
    round_trips = 300 if quick else 3000
    big = 30 if quick else 200
    cpu_n = int(os.environ.get("CPU_N", "10000000"))
    cpu_jobs = 4
    loop = asyncio.get_running_loop()

    with ProcessPoolExecutor(max_workers=1) as pool:
        await loop.run_in_executor(pool, noop, 0)  # start the worker

        async def process_one(i):
            assert await loop.run_in_executor(pool, noop, i) == i

        report_latency("process_round_trip", await measure(round_trips, process_one))

        data = b"\x07" * (1 << 20)

        async def big_one(_):
            assert await loop.run_in_executor(pool, byte_len, data) == 1 << 20

        report_latency("args_1mb", await measure(big, big_one))

    with ThreadPoolExecutor(max_workers=1) as threads:
        async def thread_one(i):
            assert await loop.run_in_executor(threads, noop, i) == i

        report_latency("thread_round_trip", await measure(round_trips, thread_one))

    expected = cpu_intensive_task(cpu_n)
    for bench, workers in (("cpu_1_worker", 1), ("cpu_2_workers", 2)):
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # Start every worker before the clock starts, as the Rust side does.
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.05)
                                   for _ in range(workers)))
            started = time.perf_counter()
            results = await asyncio.gather(*(loop.run_in_executor(pool, cpu_intensive_task, cpu_n)
                                             for _ in range(cpu_jobs)))
            elapsed = time.perf_counter() - started
            assert all(r == expected for r in results)
            print(json.dumps({"impl": "python", "bench": bench, "seconds": round(elapsed, 4),
                              "jobs": cpu_jobs, "n": cpu_n}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
