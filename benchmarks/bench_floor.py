"""How far trimming the Python around a one-commit append could go: a floor, not a product.

Issue 7 asks for one-commit appends at 0.70x raw ``sqlite3``. This measures, in one run with
the cases interleaved, three writers of the suite's workload, one durable commit a message:

- ``raw sqlite3``: the message's JSON in one row (the suite's ceiling);
- ``floor``: what sessionstore must store and nothing more: the content checked, the msgpack
  body, the hash chain link, the store's own zstd (with its trained dictionary), the event
  row and the session's head row in one transaction. No event model, no state, no
  checkpoints, no locks or caches;
- ``sessionstore``: ``SessionStore.add_message``.

The floor's ratio bounds what any rewrite of the Python write path could reach with this
storage format on this machine; sessionstore's distance from the floor is what such a
rewrite could win.

``--parts`` adds ``add_message`` with parts of its write switched off (the log it leaves is
not a valid one): without the head row, without SQL (the recorder only counts), and without
SQL and encoding (which also leaves out zstd's dictionary training, as it sees no events:
at N=10,000 its ~100 ms on a thread is ~10 us of CPU a message). Taking a part away saves
more than that part costs in a loop of its own, as every part evicts the others' data from
the CPU caches; ``--clock cpu`` (process CPU time, best with ``--durability normal``) leaves
the disk out.

    python -m benchmarks.bench_floor [--n 2000] [--runs 5] [--durability full]
                                     [--parts] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
from eventsourcing.persistence import StoredEvent
from rich.console import Console
from rich.table import Table

from sessionstore import SessionStore
from sessionstore.domain.events import MAX_CONTENT_BYTES, MessageAdded, check_text
from sessionstore.storage.codec import session_uuid, to_micros
from sessionstore.storage.sqlite import _UPSERT_HEAD, SQLiteSessionRecorder

from .peers.base import Message, scratch, workload
from .peers.raw_sqlite import RawSqlite
from .peers.sessionstore_adapter import SessionStoreAdapter

Case = Callable[[Path, Sequence[Message], str], float]  # folder, messages -> seconds
CASES = ("raw sqlite3", "floor", "sessionstore")
PARTS = ("without head row", "without SQL", "without SQL, encoding")
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter  # set by run(); CPU time counts the store's own threads too


def _raw(folder: Path, messages: Sequence[Message], durability: str) -> float:
    return _appended(RawSqlite(folder, durability), messages)


def _sessionstore(folder: Path, messages: Sequence[Message], durability: str) -> float:
    return _appended(SessionStoreAdapter(folder, durability), messages)


def _appended(adapter: Any, messages: Sequence[Message]) -> float:
    adapter.open()
    try:
        start = _clock()
        for message in messages:
            adapter.append_one(message)
        return _clock() - start
    finally:
        adapter.close()


def _without(*parts: str) -> Case:
    """``add_message`` with ``parts`` of the write switched off on the store's instances."""

    def case(folder: Path, messages: Sequence[Message], durability: str) -> float:
        adapter = SessionStoreAdapter(folder, durability)
        adapter.open()
        adapter.close()  # the session exists; the next open is the timed one
        original_open = adapter.open

        def open_without() -> None:
            original_open()
            _switch_off(adapter.store, parts)

        adapter.open = open_without  # type: ignore[method-assign]
        return _appended(adapter, messages)

    return case


def _switch_off(store: SessionStore, parts: Sequence[str]) -> None:
    """Switch ``parts`` off in both write paths: the general one (``record``, ``encode``)
    and the plain-message lane that the suite's messages take (``record_rows``,
    ``encode_message``)."""
    log = store._log
    recorder = log.recorder
    assert isinstance(recorder, SQLiteSessionRecorder)
    record = recorder.record
    ids = itertools.count(1 << 40)
    if "heads" in parts:
        recorder.record = lambda stored, heads, also=None: record(stored, [], also)  # type: ignore[method-assign]
        recorder.record_rows = (  # type: ignore[method-assign]
            lambda session_id, rows, head: _rows_only(recorder, session_id, rows)
        )
    if "sql" in parts:
        recorder.record = lambda stored, heads, also=None: [next(ids) for _ in stored]  # type: ignore[method-assign]
        recorder.record_rows = lambda session_id, rows, head: None  # type: ignore[method-assign]
    if "encoding" in parts:
        row = StoredEvent(uuid.uuid4(), 1, MessageAdded.type_name, b"\x00" * 250)
        log.codec.encode = lambda event, prev_hash: (row, b"\x00" * 32)  # type: ignore[method-assign]
        log.codec.encode_message = (  # type: ignore[method-assign]
            lambda session_id, message, prev_hash: (row.state, b"\x00" * 32)
        )


def _rows_only(recorder: SQLiteSessionRecorder, session_id: str, rows: Sequence[Any]) -> None:
    """The lane's rows in their transaction, without the session's head row."""
    key, insert = session_uuid(session_id).hex, recorder.insert_events_statement
    recorder._in_writer(lambda writer: writer.executemany(insert, [(key, *r) for r in rows]))


def _floor(folder: Path, messages: Sequence[Message], durability: str) -> float:
    with SessionStore(str(folder / "floor.db"), durability=durability) as store:
        sid = store.create_session("floor", agent_id="main")
        log = store._log  # the store's own compressor and writer connection
        recorder = log.recorder
        assert isinstance(recorder, SQLiteSessionRecorder)
        writer = recorder._open_writer()
        try:
            head = log.head(sid)
            assert head is not None
            return _floor_appends(writer, log.compressor, recorder.insert_events_statement,
                                  (sid, head.hash), messages)
        finally:
            writer.close()


def _floor_appends(writer: Any, compressor: Any, insert: str, after: tuple[str, bytes],
                   messages: Sequence[Message]) -> float:
    """Seconds to append ``messages`` to the session ``after`` names (id, last hash)."""
    packer = msgpack.Packer(use_bin_type=True, datetime=True)
    (sid, prev), topic = after, MessageAdded.type_name
    key = session_uuid(sid).hex
    start = time.perf_counter()
    for version, message in enumerate(messages, start=2):
        data: dict[str, Any] = {
            "seq": version - 1, "role": message.role,
            "content": check_text(message.content, limit=MAX_CONTENT_BYTES, field="content"),
        }
        if message.tool_call_id:
            data["tool_name"], data["tool_call_id"] = message.tool_name, message.tool_call_id
        body = packer.pack([to_micros(datetime.now(UTC)), None, data])
        digest = hashlib.sha256(prev)
        digest.update(f"{topic}\x00{sid}\x00{version}\x00".encode())
        digest.update(body)
        prev = digest.digest()
        writer.execute("BEGIN")
        writer.execute(insert, (key, version, topic, compressor.compress(prev + body)))
        writer.execute(_UPSERT_HEAD, (key, 1, version, prev))
        writer.execute("COMMIT")
        compressor.train_if_ready()
    return time.perf_counter() - start


_RUNNERS: dict[str, Case] = {
    "raw sqlite3": _raw, "floor": _floor, "sessionstore": _sessionstore,
    "without head row": _without("heads"), "without SQL": _without("sql"),
    "without SQL, encoding": _without("sql", "encoding"),
}


def run(n: int, runs: int, durability: str, *, parts: bool = False,
        clock: str = "wall") -> dict[str, list[float]]:
    """Microseconds per commit of each case, ``runs`` rounds with the cases interleaved."""
    global _clock
    _clock = CLOCKS[clock]
    messages = workload(n)
    cases = (*CASES, *PARTS) if parts else CASES
    samples: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(runs):
        for case in cases:
            with scratch() as folder:
                samples[case].append(_RUNNERS[case](folder, messages, durability) * 1e6 / n)
    return samples


def print_table(samples: dict[str, list[float]], n: int, durability: str,
                clock: str = "wall") -> None:
    medians = {case: statistics.median(values) for case, values in samples.items()}
    table = Table(title=f"One durable commit per message, N={n:,}, durability={durability}, "
                        f"{clock} clock")
    for column in ("case", "µs per commit (median)", "runs", "vs raw sqlite3"):
        table.add_column(column, justify="right")
    for case in samples:
        table.add_row(case, f"{medians[case]:.1f}",
                      " ".join(f"{v:.0f}" for v in samples[case]),
                      f"{medians['raw sqlite3'] / medians[case]:.2f}x")
    Console(width=120).print(table)


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_floor")
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    parser.add_argument("--parts", action="store_true",
                        help="also add_message with parts of the write switched off")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall time, or the process's CPU time (leaves the disk out)")
    args = parser.parse_args(argv)
    samples = run(args.n, args.runs, args.durability, parts=args.parts, clock=args.clock)
    print_table(samples, args.n, args.durability, args.clock)
    return samples


if __name__ == "__main__":
    main()
