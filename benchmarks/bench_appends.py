"""Issue 2's benchmark: appends to one session, against raw sqlite3 inserts of the same bytes.

20,000 messages of about 500 bytes, one event per commit and in batches of 100, then the
state read back by a fresh store. Events per second are shown as a ratio against raw
``sqlite3`` at the same durability, measured in the same run (median of ``--runs``).

    python -m benchmarks.bench_appends [--n 20000] [--runs 3] [--durability full normal]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from .peers.base import Adapter, Message, batches, scratch, seconds, workload
from .peers.raw_sqlite import RawSqlite
from .peers.sessionstore_adapter import SessionStoreAdapter


def _append_rate(cls: type[Adapter], messages: Sequence[Message], durability: str,
                 batched: bool) -> tuple[float, float | None]:
    """Events/s of one run, and the seconds a fresh store takes to read the state back."""
    with scratch() as folder:
        adapter = cls(folder, durability)
        adapter.open()
        if batched:
            elapsed, _ = seconds(lambda: [adapter.append_batch(b) for b in batches(messages)])
        else:
            elapsed, _ = seconds(lambda: [adapter.append_one(m) for m in messages])
        adapter.close()
        adapter.open()
        read, count = seconds(adapter.state_cold)
        adapter.close()
        assert count == len(messages), f"{cls.name} read back {count} of {len(messages)}"
        return len(messages) / elapsed, read


def run(n: int, durabilities: Sequence[str], runs: int) -> list[dict[str, Any]]:
    messages = workload(n)
    results: list[dict[str, Any]] = []
    systems: tuple[type[Adapter], ...] = (RawSqlite, SessionStoreAdapter)
    for durability in durabilities:
        for batched in (False, True):
            # Interleaved (raw, then sessionstore, run after run), as the suite runs them: a
            # change in the machine's load falls on both alike.
            samples: dict[str, list[tuple[float, float | None]]] = {c.name: [] for c in systems}
            for _ in range(runs):
                for cls in systems:
                    samples[cls.name].append(_append_rate(cls, messages, durability, batched))
            medians = {
                name: (statistics.median(s[0] for s in runs_of),
                       statistics.median(s[1] or 0.0 for s in runs_of))
                for name, runs_of in samples.items()
            }
            raw, ours = medians[RawSqlite.name], medians[SessionStoreAdapter.name]
            results.append({
                "n": n, "durability": durability,
                "mode": "batches of 100" if batched else "one event per commit",
                "raw_sqlite3_events_per_s": raw[0], "sessionstore_events_per_s": ours[0],
                "ratio": ours[0] / raw[0], "raw_read_s": raw[1], "sessionstore_state_s": ours[1],
            })
    return results


def print_table(results: Sequence[dict[str, Any]]) -> None:
    table = Table(title="Appends to one session (median); ratio = sessionstore / raw sqlite3")
    for column in ("N", "durability", "mode", "raw sqlite3", "sessionstore", "ratio",
                   "read back: raw", "state(): sessionstore"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(f"{r['n']:,}", r["durability"], r["mode"],
                      f"{r['raw_sqlite3_events_per_s']:,.0f}/s",
                      f"{r['sessionstore_events_per_s']:,.0f}/s", f"{r['ratio']:.2f}x",
                      f"{r['raw_read_s'] * 1e3:,.0f} ms",
                      f"{r['sessionstore_state_s'] * 1e3:,.0f} ms")
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_appends")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--durability", nargs="+", default=["full", "normal"])
    args = parser.parse_args(argv)
    results = run(args.n, args.durability, args.runs)
    print_table(results)
    return results


if __name__ == "__main__":
    main()
