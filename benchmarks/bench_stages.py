"""Where an append's time goes: microseconds per message in each stage of the write path.

Issue 7's append targets are ratios against raw ``sqlite3``; this shows what stands between
sessionstore and that ceiling. It runs the suite's workload through the public API, one
event per commit and in batches of 100, with a timer around each stage:

- ``domain``: the aggregate validates each event and folds it into the live state (plain
  messages: the lane builds each one's state form, and folds them after the commit);
- ``encode``: msgpack, the hash chain link and the row, of which ``zstd`` is compression;
- ``record``: the SQLite transaction (rows and the session's head);
- ``checkpoints``: encoding and storing automatic checkpoints;
- ``other``: the rest of the call (locks, cache, bookkeeping, the timers themselves).

Raw ``sqlite3`` in the same run gives the ceiling. Each timer costs a fraction of a
microsecond, so the stages are estimates; the totals and ratios of the suite
(``python -m benchmarks``) are the figures to quote.

    python -m benchmarks.bench_stages [--n 20000] [--runs 3] [--durability full]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from sessionstore import core
from sessionstore.core import StoreCore
from sessionstore.domain.session import Session
from sessionstore.replay.auto import AutoCheckpointMixin
from sessionstore.replay.checkpointer import Checkpointer
from sessionstore.storage.codec import EventCodec
from sessionstore.storage.dictionaries import TrainedZstd
from sessionstore.storage.log import EventLog

from .peers.base import Adapter, Message, batches, scratch, seconds, workload
from .peers.raw_sqlite import RawSqlite
from .peers.sessionstore_adapter import SessionStoreAdapter

Spent = dict[str, float]
# (owner, method, stage) for both modes; the domain stage depends on the mode, as
# ``Session.add_messages`` calls ``add_message`` and timing both would count it twice.
_SHARED: tuple[tuple[Any, str, str], ...] = (
    (EventCodec, "encode", "encode"),
    (EventCodec, "encode_message", "encode"),  # the plain-message lane's
    (StoreCore, "_plain_messages", "domain"),  # the lane's decision, and its fold:
    (core, "extend_messages", "domain"),
    (TrainedZstd, "compress", "zstd"),
    (EventLog, "_record", "record"),
    (EventLog, "_record_rows", "record"),  # the lane's
    (Checkpointer, "prepare", "checkpoints"),
    (AutoCheckpointMixin, "_store_automatic", "checkpoints"),
)
_DOMAIN = {False: (Session, "add_message", "domain"), True: (Session, "add_messages", "domain")}
STAGES = ("domain", "encode", "zstd", "record", "checkpoints", "other")


@contextmanager
def timed(owner: Any, name: str, stage: str, spent: Spent) -> Iterator[None]:
    """Add the seconds spent in ``owner.name`` to ``spent[stage]`` while inside."""
    original: Callable[..., Any] = owner.__dict__[name]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _append_all(
    adapter: Adapter, messages: Sequence[Message], batched: bool, spent: Spent | None = None
) -> float:
    """Seconds to append ``messages``; ``spent`` starts from nothing once the store is open
    (creating the session encodes and records an event too)."""
    adapter.open()
    if spent is not None:
        spent.clear()
    try:
        if batched:
            return seconds(lambda: [adapter.append_batch(b) for b in batches(messages)])[0]
        return seconds(lambda: [adapter.append_one(m) for m in messages])[0]
    finally:
        adapter.close()


def stages_once(messages: Sequence[Message], durability: str, batched: bool) -> Spent:
    """Microseconds per message in each stage, and in all (``total``), of one run."""
    spent: Spent = {}
    with scratch() as folder, ExitStack() as patches:
        for owner, name, stage in (*_SHARED, _DOMAIN[batched]):
            patches.enter_context(timed(owner, name, stage, spent))
        total = _append_all(SessionStoreAdapter(folder, durability), messages, batched, spent)
    per_message = {stage: spent.get(stage, 0.0) * 1e6 / len(messages) for stage in STAGES}
    per_message["total"] = total * 1e6 / len(messages)
    inside = ("domain", "encode", "record", "checkpoints")  # zstd is part of encode
    per_message["other"] = per_message["total"] - sum(per_message[s] for s in inside)
    return per_message


def raw_once(messages: Sequence[Message], durability: str, batched: bool) -> float:
    """Raw sqlite3's microseconds per message, the ceiling, in the same run."""
    with scratch() as folder:
        return _append_all(RawSqlite(folder, durability), messages, batched) * 1e6 / len(messages)


def run(n: int, durability: str, runs: int) -> list[dict[str, Any]]:
    messages = workload(n)
    results: list[dict[str, Any]] = []
    for batched in (False, True):
        samples = [stages_once(messages, durability, batched) for _ in range(runs)]
        raw = statistics.median(raw_once(messages, durability, batched) for _ in range(runs))
        medians = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
        results.append({"n": n, "durability": durability,
                        "mode": "batches of 100" if batched else "one event per commit",
                        "raw_us": raw, **{f"{k}_us": v for k, v in medians.items()}})
    return results


def print_table(results: Sequence[dict[str, Any]]) -> None:
    table = Table(title="Microseconds per message in each stage of an append (median)")
    for column in ("N", "durability", "mode", *STAGES, "total", "raw sqlite3", "ratio"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(f"{r['n']:,}", r["durability"], r["mode"],
                      *(f"{r[f'{s}_us']:.1f}" for s in STAGES),
                      f"{r['total_us']:.1f}", f"{r['raw_us']:.1f}",
                      f"{r['raw_us'] / r['total_us']:.2f}x")
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_stages")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    args = parser.parse_args(argv)
    results = run(args.n, args.durability, args.runs)
    print_table(results)
    return results


if __name__ == "__main__":
    main()
