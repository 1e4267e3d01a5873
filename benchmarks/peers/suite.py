"""Runs the workload against each system and collects medians of several runs."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .base import (
    Adapter,
    Message,
    NotSupported,
    batches,
    raw_json_bytes,
    scratch,
    seconds,
    workload,
)

# metric -> (unit, higher is better). Times are seconds, throughputs events per second.
METRICS: dict[str, tuple[str, bool]] = {
    "append_one": ("events/s", True),
    "append_batch": ("events/s", True),
    "read_all": ("s", False),
    "read_last_100": ("s", False),
    "state_cold": ("s", False),
    "state_cold_read_all": ("s", False),
    "replay_events": ("s", False),
    "time_travel": ("s", False),
    "fork": ("s", False),
    "disk_bytes": ("bytes", False),
    "log_bytes": ("bytes", False),
    "checkpoint_bytes": ("bytes", False),
    "views_bytes": ("bytes", False),
}


@dataclass
class Figure:
    """One system's median for one metric at one size and durability."""

    system: str
    n: int
    durability: str
    metric: str
    unit: str
    median: float | None
    runs: list[float] = field(default_factory=list)
    measured_n: int | None = None  # when a peer was measured at a smaller N
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def peer_classes(names: Sequence[str] | None = None) -> list[type[Adapter]]:
    """The systems whose libraries are installed (peers are optional: the [bench] extra)."""
    from .raw_sqlite import RawSqlite
    from .sessionstore_adapter import SessionStoreAdapter

    found: list[type[Adapter]] = [RawSqlite, SessionStoreAdapter]
    for module, cls in (
        ("eventsourcing_defaults", "EventsourcingDefaults"),
        ("langgraph_saver", "LangGraphSaver"),
        ("openai_agents", "OpenAIAgentsSession"),
    ):
        try:
            imported = __import__(f"{__package__}.{module}", fromlist=[cls])
        except ImportError:
            continue
        found.append(getattr(imported, cls))
    if names:
        found = [c for c in found if c.name in names or c.name == "raw sqlite3"]
    return found


def _timed_op(samples: dict[str, list[float]], notes: dict[str, str], metric: str,
              op: Callable[[], Any]) -> None:
    try:
        elapsed, _ = seconds(op)
    except NotSupported as e:
        notes[metric] = str(e)
        return
    samples.setdefault(metric, []).append(elapsed)


def one_run(cls: type[Adapter], messages: Sequence[Message], durability: str,
            samples: dict[str, list[float]], notes: dict[str, str]) -> None:
    n, half = len(messages), len(messages) // 2
    with scratch() as folder:
        adapter = cls(folder, durability)
        adapter.open()
        elapsed, _ = seconds(lambda: [adapter.append_one(m) for m in messages])
        samples.setdefault("append_one", []).append(n / elapsed)
        adapter.close()
        samples.setdefault("disk_bytes", []).append(adapter.disk_bytes())
        adapter.open()  # cold: nothing cached
        _timed_op(samples, notes, "state_cold", adapter.state_cold)
        read_all_cold = getattr(adapter, "state_cold_read_all", None)
        if read_all_cold is not None:
            adapter.close()
            adapter.open()  # cold again
            _timed_op(samples, notes, "state_cold_read_all", read_all_cold)
        replay = getattr(adapter, "replay_events", None)
        if replay is not None:
            _timed_op(samples, notes, "replay_events", replay)
        prepare = getattr(adapter, "prepare_reads", None)
        if prepare is not None:
            prepare()
        _timed_op(samples, notes, "read_all", adapter.read_all)
        _timed_op(samples, notes, "read_last_100", lambda: adapter.read_last(100))
        _timed_op(samples, notes, "time_travel", lambda: adapter.time_travel(half))
        _timed_op(samples, notes, "fork", lambda: adapter.fork(half))
        adapter.close()
        views = getattr(adapter, "views_bytes", None)
        if views is not None:
            samples.setdefault("views_bytes", []).append(views())
        tables = getattr(adapter, "table_bytes", None)
        if tables is not None:
            for metric, size in tables().items():
                samples.setdefault(metric, []).append(size)
    with scratch() as folder:
        adapter = cls(folder, durability)
        adapter.open()
        elapsed, _ = seconds(lambda: [adapter.append_batch(b) for b in batches(messages)])
        samples.setdefault("append_batch", []).append(n / elapsed)
        adapter.close()


def measure(cls: type[Adapter], n: int, durability: str, runs: int) -> list[Figure]:
    """``runs`` runs of one system in a row (``run_suite`` interleaves the systems instead)."""
    samples: dict[str, list[float]] = {}
    notes: dict[str, str] = dict(cls.notes)
    for _ in range(runs):
        one_run(cls, workload(measured_size(cls, n)), durability, samples, notes)
    return figures_of(cls, n, durability, samples, notes)


def measured_size(cls: type[Adapter], n: int) -> int:
    return min(n, cls.max_n) if cls.max_n else n


def figures_of(cls: type[Adapter], n: int, durability: str, samples: dict[str, list[float]],
               notes: dict[str, str]) -> list[Figure]:
    measured_n = measured_size(cls, n)
    figures = []
    for metric, (unit, _) in METRICS.items():
        values = samples.get(metric, [])
        if not values and metric not in notes:
            continue
        figures.append(Figure(
            cls.name, n, durability, metric, unit,
            statistics.median(values) if values else None, values,
            measured_n if measured_n != n else None, notes.get(metric, ""),
        ))
    return figures


def reference(n: int, durability: str) -> Figure:
    """The raw JSON of the messages: the yardstick for bytes on disk."""
    size = raw_json_bytes(workload(n))
    return Figure("raw JSON", n, durability, "disk_bytes", "bytes", size, [size])


def run_suite(sizes: Sequence[int], durabilities: Sequence[str], runs: int,
              systems: Sequence[str] | None = None,
              progress: Callable[[str], None] = print) -> list[Figure]:
    figures: list[Figure] = []
    for n in sizes:
        for durability in durabilities:
            figures.append(reference(n, durability))
            classes = [c for c in peer_classes(systems) if durability in c.durabilities]
            samples: dict[str, dict[str, list[float]]] = {c.name: {} for c in classes}
            notes = {c.name: dict(c.notes) for c in classes}
            # Runs are interleaved (run 1 of every system, then run 2, ...) so that a change
            # in the machine's load during the suite falls on every system alike.
            for run in range(1, runs + 1):
                for cls in classes:
                    progress(f"N={n:,} {durability}: {cls.name}, run {run}/{runs}")
                    messages = workload(measured_size(cls, n))
                    one_run(cls, messages, durability, samples[cls.name], notes[cls.name])
            for cls in classes:
                figures.extend(figures_of(cls, n, durability, samples[cls.name], notes[cls.name]))
    return figures


def results_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "results"
