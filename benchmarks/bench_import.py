"""Issue 5's benchmark: importing real transcripts, against a plain parse-and-insert baseline.

Two inputs from tests/fixtures: the whole tau-bench file (200 OpenAI-chat sessions, 4 MB
JSON array) and the largest Claude Code session (3 MB JSONL, with its two sub-agent files).
For each: the time and events per second of ``SessionStore.import_`` on a fresh SQLite file,
and the time of a baseline that reads the same file with ``json`` and inserts each record's
JSON into one raw ``sqlite3`` table in one transaction (no validation, hashing, compression
or read models); the ratio baseline time / sessionstore time is the cost of all that. Peak
memory is the tracemalloc peak of Python allocations in a separate run (tracing slows
timing), also for the baseline, which loads the whole file. Figures are medians of ``--runs``.

    python -m benchmarks.bench_import [--runs 3] [--durability normal]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sessionstore import SessionStore

from .peers.base import scratch, seconds

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
INPUTS = {
    "tau-bench (200 sessions)": ("openai-chat", FIXTURES / "openai-chat" / "gpt-4o-airline.json"),
    "largest Claude Code session": (
        "claude-code",
        FIXTURES / "claude-code" / "spotter" / "4d5611e5-241a-462a-8d15-5122611a9569.jsonl",
    ),
}


def _ours(fmt: str, path: Path, durability: str) -> Callable[[Path], int]:
    def run(folder: Path) -> int:
        with SessionStore(str(folder / "s.db"), durability=durability) as store:
            return store.import_(fmt, path).events

    return run


def _records(fmt: str, path: Path) -> list[Any]:
    if fmt == "openai-chat":
        return [m for record in json.loads(path.read_bytes()) for m in record["traj"]]
    files = [path, *sorted((path.parent / path.stem / "subagents").glob("*.jsonl"))]
    return [json.loads(line) for f in files for line in f.read_bytes().splitlines() if line]


def _baseline(fmt: str, path: Path, durability: str) -> Callable[[Path], int]:
    def run(folder: Path) -> int:
        records = _records(fmt, path)
        db = sqlite3.connect(folder / "raw.db")
        db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, body TEXT)")
        with db:
            db.executemany("INSERT INTO records (body) VALUES (?)",
                           ((json.dumps(r),) for r in records))
        db.close()
        return len(records)

    return run


def _timed(job: Callable[[Path], int]) -> tuple[float, int]:
    with scratch() as folder:
        elapsed, count = seconds(lambda: job(folder))
    return elapsed, count


def _peak_mib(job: Callable[[Path], int]) -> float:
    with scratch() as folder:
        tracemalloc.start()
        try:
            job(folder)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak / 2**20


def run(runs: int, durability: str) -> list[dict[str, Any]]:
    results = []
    for name, (fmt, path) in INPUTS.items():
        ours, base = _ours(fmt, path, durability), _baseline(fmt, path, durability)
        ours_runs = [_timed(ours) for _ in range(runs)]
        base_runs = [_timed(base) for _ in range(runs)]
        elapsed = statistics.median(t for t, _ in ours_runs)
        base_elapsed = statistics.median(t for t, _ in base_runs)
        results.append({
            "input": name, "bytes": path.stat().st_size, "durability": durability,
            "events": ours_runs[0][1], "baseline_records": base_runs[0][1],
            "seconds": elapsed, "baseline_seconds": base_elapsed,
            "events_per_s": ours_runs[0][1] / elapsed,
            "ratio": base_elapsed / elapsed,
            "peak_mib": statistics.median(_peak_mib(ours) for _ in range(runs)),
            "baseline_peak_mib": statistics.median(_peak_mib(base) for _ in range(runs)),
        })
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    table = Table(
        title="Import of the same file (median); ratio = baseline time / sessionstore time")
    for column in ("input", "file", "events", "sessionstore", "events/s", "baseline", "ratio",
                   "peak memory", "baseline peak"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(r["input"], f"{r['bytes'] / 2**20:.1f} MiB", f"{r['events']:,}",
                      f"{r['seconds']:.2f} s", f"{r['events_per_s']:,.0f}",
                      f"{r['baseline_seconds']:.2f} s", f"{r['ratio']:.2f}x",
                      f"{r['peak_mib']:.1f} MiB",
                      f"{r['baseline_peak_mib']:.1f} MiB")
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_import")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--durability", choices=["full", "normal"], default="normal")
    args = parser.parse_args(argv)
    results = run(args.runs, args.durability)
    print_table(results)
    return results


if __name__ == "__main__":
    main()
