"""Ratios, the rich tables and the JSON file of one suite run."""

from __future__ import annotations

import json
import platform
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .suite import METRICS, Figure

RAW = "raw sqlite3"
OURS = "sessionstore"


def speed(figure: Figure) -> float | None:
    """Higher is better for every metric: throughput as is, times and sizes inverted."""
    if not figure.median:
        return None
    return figure.median if METRICS[figure.metric][1] else 1.0 / figure.median


def _index(figures: Sequence[Figure]) -> dict[tuple[int, str, str, str], Figure]:
    return {(f.n, f.durability, f.system, f.metric): f for f in figures}


def ratio(figures: Sequence[Figure], a: Figure, against: str) -> float | None:
    """How many times better ``a`` is than system ``against`` (same N, durability, metric)."""
    b = _index(figures).get((a.n, a.durability, against, a.metric))
    if b is None or (b.measured_n != a.measured_n and a.metric == "disk_bytes"):
        return None
    sa, sb = speed(a), speed(b)
    return None if sa is None or sb is None else sa / sb


def rows(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """Every figure with its ratio against raw sqlite3 and sessionstore's against it."""
    out = []
    for f in figures:
        row = f.as_json()
        row["vs_raw_sqlite3"] = ratio(figures, f, RAW)
        ours = _index(figures).get((f.n, f.durability, OURS, f.metric))
        row["sessionstore_vs_this"] = (
            ratio(figures, ours, f.system) if ours and f.system != OURS else None
        )
        out.append(row)
    return out


def targets(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """The issue's performance targets, at the largest N measured, durability full."""
    if not figures:
        return []
    n = max(f.n for f in figures)
    idx = _index(figures)

    def get(system: str, metric: str) -> Figure | None:
        return idx.get((n, "full", system, metric))

    checks: list[tuple[str, Figure | None, Figure | None, float, bool]] = [
        ("appends, one durable commit each, vs raw sqlite3", get(OURS, "append_one"),
         get(RAW, "append_one"), 0.70, True),
        ("batch appends (100 per txn) vs raw sqlite3 executemany", get(OURS, "append_batch"),
         get(RAW, "append_batch"), 0.40, True),
        ("current state, cold start, vs eventsourcing repository.get()",
         get(OURS, "state_cold"), get("eventsourcing", "state_cold"), 10.0, True),
        ("full replay from events vs eventsourcing repository.get()",
         get(OURS, "replay_events"), get("eventsourcing", "state_cold"), 3.0, True),
        ("event log bytes (events, index, heads) vs raw JSON of the messages (at most 1x)",
         get(OURS, "log_bytes"), get("raw JSON", "disk_bytes"), 1.0, False),
    ]
    out = []
    for name, ours, base, goal, faster in checks:
        value = None
        if ours and base and ours.median and base.median:
            value = (speed(ours) or 0) / (speed(base) or 1) if faster else ours.median / base.median
        met = None if value is None else (value >= goal if faster else value <= goal)
        out.append({"n": n, "target": name, "goal": goal, "value": value, "met": met,
                    "same_run": same_run_ratios(ours, base)})
    return out


def same_run_ratios(ours: Figure | None, base: Figure | None) -> list[float]:
    """Each run's throughput over raw sqlite3's in the same round of the suite (rounds are
    interleaved, so the two ran minutes apart at most): the machine's load, which moved
    raw sqlite3's own figure by up to 2x between rounds, falls on both sides of each.
    Only for throughputs against raw sqlite3; the targets are judged on the medians."""
    if ours is None or base is None or base.system != RAW or ours.unit != "events/s":
        return []
    return [a / b for a, b in zip(ours.runs, base.runs, strict=False) if b]


def _cell(figures: Sequence[Figure], f: Figure | None) -> str:
    if f is None:
        return ""
    if f.median is None:
        return f"n/a ({f.note})" if f.note else "n/a"
    unit = f.unit
    value = (f"{f.median:,.0f}/s" if unit == "events/s" else
             f"{f.median / 1e6:,.2f} MB" if unit == "bytes" else _time(f.median))
    parts = [value]
    if f.measured_n:
        parts.append(f"[yellow]at N={f.measured_n:,}[/]")
    r = ratio(figures, f, RAW)
    if r is not None and f.system != RAW:
        parts.append(f"{r:.2f}x raw")
    ours = _index(figures).get((f.n, f.durability, OURS, f.metric))
    if ours is not None and f.system not in (OURS, RAW, "raw JSON"):
        mine = ratio(figures, ours, f.system)
        if mine is not None:
            parts.append(f"[bold]ss {mine:.1f}x[/]")
    return "\n".join(parts)


def _time(s: float) -> str:
    return f"{s * 1e3:,.1f} ms" if s < 10 else f"{s:,.1f} s"


def print_tables(figures: Sequence[Figure], console: Console | None = None) -> None:
    console = console or Console(width=160)
    for n, durability in sorted({(f.n, f.durability) for f in figures}):
        subset = [f for f in figures if f.n == n and f.durability == durability]
        systems = list(dict.fromkeys(f.system for f in subset))
        table = Table(title=f"N = {n:,} messages, durability = {durability}  "
                      "(median; 'x raw' = times raw sqlite3's speed, size for bytes; "
                      "'ss Nx' = sessionstore is N times better)")
        table.add_column("metric")
        for system in systems:
            table.add_column(system, justify="right")
        idx = _index(figures)
        for metric in METRICS:
            cells = [_cell(figures, idx.get((n, durability, s, metric))) for s in systems]
            if any(cells):
                table.add_row(metric, *cells)
        console.print(table)
    checks = targets(figures)
    if checks:
        table = Table(title="Performance targets (issue 7)")
        for column in ("N", "target", "goal", "measured", "met", "same-run ratios"):
            table.add_column(column)
        for c in checks:
            value = "n/a" if c["value"] is None else f"{c['value']:.2f}x"
            met = {True: "[green]yes[/]", False: "[red]no[/]", None: "n/a"}[c["met"]]
            runs = " ".join(f"{r:.2f}" for r in c["same_run"])
            table.add_row(f"{c['n']:,}", c["target"], f"{c['goal']}x", value, met, runs)
        console.print(table)


def write_json(figures: Sequence[Figure], folder: Path, *, runs: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = folder / f"suite-{now:%Y%m%dT%H%M%SZ}.json"
    document = {
        "created_at": now.isoformat(),
        "runs_per_figure": runs,
        "machine": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                    "platform": platform.platform()},
        "figures": rows(figures),
        "targets": targets(figures),
    }
    path.write_text(json.dumps(document, indent=2))
    return path
