"""Peak memory of exporting, verifying and rebuilding the read models, at 100k and 1M events.

Each operation runs in its own process on one session of N events (built beforehand in
batches, in another process) and reports its peak RSS (``ru_maxrss``) and its time. Memory
is bounded when the peak stays flat as N grows tenfold. ``state()`` is left out on purpose:
it holds the whole session by its nature.

    python -m benchmarks.bench_memory [--n 100000 1000000] [--folder DIR]

The 1,000,000-event build takes minutes; it is never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .peers.base import batches, workload
from .peers.sessionstore_adapter import add

OPERATIONS = ("baseline", "verify", "export", "rebuild")
BUILD_BATCH = 1_000


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def build(path: Path, n: int) -> str:
    """One session of ``n`` events (1 SessionCreated + n-1 messages), in batches."""
    from sessionstore import SessionStore

    messages = workload(min(n - 1, 10_000))
    with SessionStore(str(path), durability="normal", checkpoint_every=10**9) as store:
        sid = store.create_session("memory", agent_id="main")
        done = 1
        while done < n:
            for chunk in batches(messages, BUILD_BATCH):
                chunk = chunk[: n - done]
                with store.batch():
                    for message in chunk:
                        add(store, sid, message)
                done += len(chunk)
                if done >= n:
                    break
    return sid


def run_operation(operation: str, path: Path, sid: str) -> dict[str, Any]:
    """In this (child) process: open the store, do one operation, report peak RSS."""
    from sessionstore import SessionStore

    store = SessionStore(str(path), durability="normal")
    start = time.perf_counter()
    detail: Any = None
    if operation == "verify":
        detail = str(store.verify(sid))[:80]
    elif operation == "export":
        with open(os.devnull, "w", encoding="utf-8") as sink:
            detail = store.export(sid, sink)
    elif operation == "rebuild":
        detail = store.rebuild()
    elapsed = time.perf_counter() - start
    store.close()
    return {"operation": operation, "seconds": elapsed, "peak_rss_mb": peak_rss_mb(),
            "detail": detail}


def measure(n: int, folder: Path) -> list[dict[str, Any]]:
    path = folder / f"memory-{n}.db"
    start = time.perf_counter()
    sid = _child(["--build", str(n), str(path)])["session_id"]
    print(f"built {n:,} events in {time.perf_counter() - start:,.0f} s")
    results = []
    for operation in OPERATIONS:
        result = _child(["--child", operation, str(path), sid])
        result["n"] = n
        results.append(result)
        print(result)
    return results


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", *args],
                         check=True, capture_output=True, text=True).stdout
    parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return parsed


def print_table(results: list[dict[str, Any]]) -> None:
    table = Table(title="Peak RSS per operation, each in a fresh process "
                  "('baseline' = open and close the store)")
    for column in ("events", "operation", "peak RSS", "time", "result"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(f"{r['n']:,}", r["operation"], f"{r['peak_rss_mb']:,.0f} MB",
                      f"{r['seconds']:,.1f} s", str(r["detail"]))
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory")
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--build", nargs=2, metavar=("N", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=3, metavar=("OP", "PATH", "SID"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        print(json.dumps({"session_id": build(Path(args.build[1]), int(args.build[0]))}))
        return
    if args.child:
        operation, path, sid = args.child
        print(json.dumps(run_operation(operation, Path(path), sid), default=str))
        return
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ssmem-"))
    results = [r for n in args.n for r in measure(n, folder)]
    print_table(results)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"memory-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json").write_text(
        json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
