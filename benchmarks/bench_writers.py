"""Issue 6's benchmark: append throughput with 1, 2 and 4 writer processes on SQLite and
PostgreSQL, and how far a projection worker lags behind under that load.

Each writer process appends ``--n / writers`` messages of about 400 bytes, one event per
commit, to its own session (many orchestrators on one store); ``--shared`` puts every writer
on one session instead, appending with ``expected_version`` and ``SessionStore.retry``.
Throughput is all events over the wall time from a common start to the last writer's end;
each figure is the median of ``--runs`` runs, and its ratio is against the 1-writer figure of
the same backend measured in the same invocation.

Projection lag: each run is repeated with a projection worker alongside (``sessionstore
project --follow --source URL --db views.db``: pushed by PostgreSQL, polling SQLite every
0.1 s); "with worker" is the throughput then. Every 50 ms the bench samples notifications
recorded minus notifications applied. Reported: the median and maximum of those samples,
and the drain time from the last writer's end until the worker has applied everything.

    python -m benchmarks.bench_writers [--n 2000] [--runs 3] [--writers 1 2 4]
        [--backends sqlite postgresql] [--durability normal] [--shared]

PostgreSQL: ``SESSIONSTORE_BENCH_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test);
each run uses a fresh schema, dropped afterwards. Without a server the PostgreSQL rows are
left out with a note.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sessionstore import SessionStore

PG_URL = os.environ.get("SESSIONSTORE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PROJECT = "from sessionstore.cli import main; main()"
TEXT = "the build is red again; " * 16  # about 400 bytes
RESULTS = Path(__file__).resolve().parent / "results"


# -- one writer process ----------------------------------------------------------------------
def _writer(url: str, durability: str, count: int, shared: str | None, ready: Any,
            start: Any, results: Any) -> None:
    with SessionStore(url, durability=durability, views=":memory:") as store:
        sid = shared or store.create_session("bench writer", agent_id="main")
        ready.put(True)
        start.wait()
        began = time.monotonic()
        for i in range(count):
            if shared is None:
                store.add_message(sid, "user", f"{i} {TEXT}")
            else:
                def step(i: int = i) -> int:
                    version = store.current_version(sid)
                    return store.add_message(sid, "user", f"{i} {TEXT}",
                                             expected_version=version)
                store.retry(step, attempts=100_000)
        results.put((began, time.monotonic()))


# -- the projection worker and its lag -------------------------------------------------------
def _position(views: Path) -> int:
    try:
        with sqlite3.connect(views, timeout=30) as conn:
            row = conn.execute("SELECT notification_id FROM positions").fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    return int(row[0]) if row else 0


class LagSampler:
    """Samples (recorded - applied) every 50 ms in a thread while the writers run."""

    def __init__(self, store: SessionStore, views: Path, *, active: bool) -> None:
        self.store, self.views, self.active = store, views, active
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LagSampler:
        if self.active:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.active:
            self._thread.join()

    def behind(self) -> int:
        return max(0, self.store._log.max_notification_id() - _position(self.views))

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(self.behind())


# -- one run ---------------------------------------------------------------------------------
def one_run(url: str, folder: Path, writers: int, n: int, durability: str,
            shared: bool, follow: bool) -> dict[str, float]:
    """One run; with ``follow``, a projection worker runs alongside and its lag is sampled."""
    views = folder / f"views-{uuid.uuid4().hex[:8]}.db"
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    with SessionStore(url, durability=durability, views=":memory:") as store:
        sid = store.create_session("shared", agent_id="main") if shared else None
        worker = subprocess.Popen(
            [sys.executable, "-c", PROJECT, "project", "--follow", "--poll", "0.1",
             "--source", url, "--db", str(views)], stderr=subprocess.DEVNULL) if follow else None
        procs = [ctx.Process(target=_writer, args=(url, durability, n // writers, sid, ready,
                                                   start, results)) for _ in range(writers)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=120)
        with LagSampler(store, views, active=follow) as lag:
            start.set()
            spans = [results.get(timeout=600) for _ in procs]
            ended = time.monotonic()
            while follow and lag.behind() > 0:
                time.sleep(0.01)
            drain = time.monotonic() - ended
        for p in procs:
            p.join()
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
    wall = max(end for _, end in spans) - min(began for began, _ in spans)
    samples = lag.samples or [0]
    return {"events_per_s": (n // writers) * writers / wall, "lag_median": statistics.median(
        samples), "lag_max": max(samples), "drain_s": drain}


@contextmanager
def fresh_store(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield str(folder / f"sessions-{uuid.uuid4().hex[:8]}.db")
        return
    import psycopg

    from sessionstore.storage.postgres import parse_url

    schema = f"ss_bench_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        cfg = parse_url(PG_URL)
        with psycopg.connect(host=cfg.host, port=cfg.port, user=cfg.user,
                             password=cfg.password, dbname=cfg.dbname, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_reachable() -> bool:
    try:
        with SessionStore(f"{PG_URL}{'&' if '?' in PG_URL else '?'}connect_timeout=3",
                          views=":memory:"):
            return True
    except Exception:
        return False


def run(backends: Sequence[str], writer_counts: Sequence[int], n: int, runs: int,
        durability: str, shared: bool) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
        for backend in backends:
            base: float | None = None
            for writers in writer_counts:
                alone: list[dict[str, float]] = []
                followed: list[dict[str, float]] = []
                for _ in range(runs):  # interleaved, so load drifts hit both alike
                    for follow, samples in ((False, alone), (True, followed)):
                        with fresh_store(backend, Path(tmp)) as url:
                            samples.append(one_run(url, Path(tmp), writers, n, durability,
                                                   shared, follow))
                rate = statistics.median(s["events_per_s"] for s in alone)
                base = rate if writers == writer_counts[0] else base
                figures.append({
                    "backend": backend, "writers": writers, "n": n, "durability": durability,
                    "shared_session": shared, "events_per_s": rate,
                    "ratio": rate / base if base else 1.0,
                    "events_per_s_with_worker": statistics.median(
                        s["events_per_s"] for s in followed),
                    **{k: statistics.median(s[k] for s in followed)
                       for k in ("lag_median", "lag_max", "drain_s")},
                })
    return figures


def print_table(figures: Sequence[dict[str, Any]], runs: int) -> None:
    table = Table(title=f"Writer processes (median of {runs}); ratio = against 1 writer, "
                        "same backend, same run; lag in notifications")
    for column in ("backend", "writers", "events", "appends/s", "ratio", "with worker",
                   "lag median", "lag max", "drain"):
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(f["backend"], str(f["writers"]), f"{f['n']:,}",
                      f"{f['events_per_s']:,.0f}", f"{f['ratio']:.2f}x",
                      f"{f['events_per_s_with_worker']:,.0f}",
                      f"{f['lag_median']:,.0f}", f"{f['lag_max']:,.0f}",
                      f"{f['drain_s'] * 1e3:,.0f} ms")
    Console(width=140).print(table)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_writers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2_000, help="events per run, all writers")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--durability", default="normal", choices=["full", "normal"])
    parser.add_argument("--shared", action="store_true", help="every writer on one session")
    args = parser.parse_args(argv)
    backends = list(args.backends)
    if "postgresql" in backends and not postgres_reachable():
        print(f"no PostgreSQL at {PG_URL.split('@')[-1]}: PostgreSQL rows left out")
        backends.remove("postgresql")
    figures = run(backends, args.writers, args.n, args.runs, args.durability, args.shared)
    print_table(figures, args.runs)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"writers-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"figures": figures, "runs": args.runs}, indent=2))
    print(f"written to {out}")
    return figures


if __name__ == "__main__":
    main()
