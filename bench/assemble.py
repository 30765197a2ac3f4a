#!/usr/bin/env python3
"""Puts bench/run.sh's parts together into one markdown report, and splices a full run's
report into BENCHMARKS.md.

    python3 bench/assemble.py --http http.json [--rt rt.md] [--process process.md] \\
        --command "bash bench/run.sh" --elapsed SECONDS --kairos BIN > report.md
    python3 bench/assemble.py --splice BENCHMARKS.md report.md

BENCHMARKS.md keeps hand-written analysis (profiles of the missed goals, notes on method)
outside the markers below; only the text between them is replaced by a new full run.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (bench/report.py, beside this file)

BEGIN = "<!-- bench/run.sh: generated figures begin -->"
END = "<!-- bench/run.sh: generated figures end -->"
ROOT = Path(__file__).resolve().parent.parent


def command_output(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def locked_version(lock, name):
    match = re.search(rf'name = "{re.escape(name)}"\nversion = "([^"]+)"', lock)
    return match.group(1) if match else "?"


def versions(kairos_bin):
    lock = (ROOT / "bench/peers/Cargo.lock").read_text()
    venv_python = ROOT / "bench/out/venv/bin/python"
    python_pkgs = "?"
    if venv_python.exists():
        python_pkgs = command_output(
            str(venv_python), "-c",
            "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in "
            "('fastapi', 'uvicorn', 'uvloop', 'httptools', 'starlette', 'pydantic')))")
    wrk = command_output("sh", "-c", "wrk -v 2>&1 | head -n 1")
    return [
        ("kairos", command_output(kairos_bin, "--version")),
        ("rustc", command_output("rustc", "--version")),
        ("Rust peers", ", ".join(f"{n} {locked_version(lock, n)}" for n in ("tokio", "hyper", "axum"))),
        ("Python", f"{command_output('python3', '--version')}; {python_pkgs}"),
        ("wrk", wrk),
    ]


def machine():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({model}), {command_output('uname', '-sr')}"


def assemble(args):
    data = json.load(open(args.http))
    lines = [
        BEGIN,
        "",
        f"Run of {datetime.date.today().isoformat()}: `{args.command}` took {int(args.elapsed) // 60} min "
        f"{int(args.elapsed) % 60} s on {machine()}.",
        "",
    ]
    lines += [f"- {name}: {version}" for name, version in versions(args.kairos)]
    lines.append("")
    lines.append("## HTTP: kairos serve beside hyper, axum, FastAPI and the floor")
    lines.append("")
    lines += report.render(data)
    if args.rt:
        lines += ["## kairos-rt against tokio's current-thread runtime", "",
                  "Command: `bash bench/rt_bench.sh` (run by bench/run.sh).", "",
                  Path(args.rt).read_text().strip(), ""]
    if args.process:
        lines += ["## The process pool against Python's ProcessPoolExecutor", "",
                  "Command: `bash bench/process_bench.sh` (run by bench/run.sh).", "",
                  Path(args.process).read_text().strip(), ""]
    lines.append(END)
    print("\n".join(lines))


def splice(target, generated):
    new = Path(generated).read_text().strip()
    text = Path(target).read_text() if Path(target).exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + new + tail
    else:
        text = "# Benchmarks\n\n" + new + "\n"
    Path(target).write_text(text)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--splice":
        splice(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--rt")
    parser.add_argument("--process")
    parser.add_argument("--command", required=True)
    parser.add_argument("--elapsed", type=float, required=True)
    parser.add_argument("--kairos", required=True)
    assemble(parser.parse_args())


if __name__ == "__main__":
    main()
