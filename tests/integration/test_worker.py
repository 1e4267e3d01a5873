"""The projection worker (``sessionstore project --follow --source URL --db views.db``):
pushed by PostgreSQL, polling SQLite, killed with SIGKILL and restarted without losing or
repeating an event, several workers each with their own copy."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main
from sessionstore.domain.errors import BackendError
from sessionstore.projections.projector import Projector, open_views
from sessionstore.projections.worker import PushedSource, follow, subscribe

from ..conformance.backends import fresh_postgres_url
from ..unit.test_projection_support import snapshot
from .test_projection_sigkill import fill, position

PROJECT = "from sessionstore.cli import main; main()"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


def worker(source: str, views: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PROJECT, "project", "--follow", "--source", source,
         "--db", str(views), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(views: Path, at_least: int, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while (reached := position(views)) < at_least:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.005)
    return reached


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def rebuilt(url: str, views: Path) -> dict[str, object]:
    with SessionStore(url, views=str(views)) as store:
        store.rebuild()
        return snapshot(store.views_db)


def applied_ids(views: Path) -> list[int]:
    db = open_views(str(views))
    ids = [row["notification_id"] for row in db.query("SELECT notification_id FROM audit")]
    db.close()
    return sorted(ids)


@pytest.mark.postgres
def test_postgres_worker_is_woken_by_push_not_by_polling(pg_url: str, tmp_path: Path) -> None:
    with SessionStore(pg_url, views=str(tmp_path / "unused.db")) as store:
        sid = store.create_session("pushed")
        log = store._log
        projector = Projector(open_views(str(tmp_path / "views.db")), log)
        # A 60 s poll: only a push can bring the next events within the test's wait.
        thread = threading.Thread(target=follow, args=(projector, log),
                                  kwargs={"poll": 60.0, "duration": 4.0})
        thread.start()
        time.sleep(0.5)
        for i in range(10):
            store.add_message(sid, "user", f"m{i}")
        target = log.max_notification_id()
        deadline = time.monotonic() + 3
        while position(tmp_path / "views.db") < target and time.monotonic() < deadline:
            time.sleep(0.02)
        assert position(tmp_path / "views.db") == target
        thread.join(timeout=30)
        assert not thread.is_alive()  # the duration ends the wait, not the 60 s poll
        rows = projector.db.query("SELECT content FROM messages ORDER BY version")
        assert [r["content"] for r in rows] == [f"m{i}" for i in range(10)]


def test_sqlite_has_no_push_so_the_worker_polls(tmp_path: Path) -> None:
    db, views = str(tmp_path / "sessions.db"), tmp_path / "views.db"
    with SessionStore(db) as store:
        sid = store.create_session("polled")
        store.add_message(sid, "user", "hello")
        assert subscribe(store._log, 0) is None
    result = CliRunner().invoke(main, ["--json", "project", "--follow", "--until-idle", "0.3",
                                       "--source", db, "--db", str(views)])
    assert result.exit_code == 0, result.output
    assert '"applied": 2' in result.output
    with SessionStore(db, views=str(views)) as store:
        assert [r["content"] for r in store.history(sid)] == ["hello"]


@pytest.mark.parametrize("args", [["--source", "x.db"], ["--db", "views.db"]])
def test_worker_usage_errors_say_what_to_add(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["project", *args])
    assert result.exit_code == 2
    assert "--db" in result.output


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_worker_killed_and_restarted_loses_and_repeats_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    views = tmp_path / "views.db"
    with SessionStore(pg_url, durability="normal", views=str(tmp_path / "own.db")) as store:
        fill(store, sessions=10, messages=60)
        first = store._log.max_notification_id()
        sid = store.create_session("live")

        # 1. killed mid catch-up
        proc = worker(pg_url, views, "--batch-size", "5")
        killed_at = [wait_for(views, first // 3, proc)]
        kill(proc)

        # 2. killed while following live writes
        proc = worker(pg_url, views, "--batch-size", "5")
        for i in range(150):
            store.add_message(sid, "user", f"live {i}")
        killed_at.append(wait_for(views, first + 20, proc))
        kill(proc)
        for i in range(150, 200):  # written while no worker runs
            store.add_message(sid, "user", f"live {i}")
        everything = [n.notification_id for n in store._log.notifications(1, 100_000)]

    assert 0 < killed_at[0] < first < killed_at[1] < everything[-1]
    # 3. restarted: catches up and stops once idle
    proc = worker(pg_url, views, "--until-idle", "1")
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    assert position(views) == everything[-1]
    assert applied_ids(views) == everything  # none twice, none skipped
    db = open_views(str(views))
    resumed = snapshot(db)
    db.close()
    assert resumed == rebuilt(pg_url, tmp_path / "fresh.db")


@pytest.mark.postgres
def test_several_workers_each_keep_their_own_copy(pg_url: str, tmp_path: Path) -> None:
    procs = [worker(pg_url, tmp_path / f"views{n}.db", "--until-idle", "2") for n in range(2)]
    with SessionStore(pg_url, views=str(tmp_path / "own.db")) as store:
        fill(store, sessions=3, messages=20)
        last = store._log.max_notification_id()
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    copies = []
    for n in range(2):
        db = open_views(str(tmp_path / f"views{n}.db"))
        copies.append(snapshot(db))
        db.close()
        assert position(tmp_path / f"views{n}.db") == last
    assert copies[0] == copies[1] == rebuilt(pg_url, tmp_path / "fresh.db")


def _wait_buffered(source: PushedSource, count: int) -> None:
    deadline = time.monotonic() + 10
    while source._buffer.qsize() < count:
        assert time.monotonic() < deadline, "the subscription delivered nothing"
        time.sleep(0.01)


def test_pushed_source_reads_the_log_when_the_position_is_not_its_own() -> None:
    with SessionStore("memory://") as store:  # the POPO recorder pushes too
        sid = store.create_session("pushed")
        for i in range(5):
            store.add_message(sid, "user", f"m{i}")
        source = subscribe(store._log, 0)
        assert source is not None
        try:
            _wait_buffered(source, 6)
            assert [i.notification_id for i in source.notifications(1, 2)] == [1, 2]
            # Another worker sharing the views file applied 3 and 4: read after them.
            assert [i.notification_id for i in source.notifications(5, 10)] == [5, 6]
            store.add_message(sid, "user", "new")
            _wait_buffered(source, 5)  # 3..6 still buffered, then 7
            assert [i.notification_id for i in source.notifications(7, 10)] == [7]
            assert source.notifications(8, 10) == []
        finally:
            source.close()


def test_pushed_source_reports_a_lost_subscription() -> None:
    with SessionStore("memory://") as store:
        source = subscribe(store._log, 0)
        assert source is not None
        source.close()
        source.error = ConnectionError("server closed the connection")
        with pytest.raises(BackendError, match="restart the worker"):
            source.notifications(1, 10)
        with pytest.raises(BackendError):
            source.max_notification_id()
