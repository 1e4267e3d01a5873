"""Four processes race to append 500 messages each to one session, on SQLite and PostgreSQL.

Each writer uses the documented pattern: read the version, append with
``expected_version``, and let ``SessionStore.retry`` re-read after a ``ConcurrencyConflict``.
The session must end with exactly 2,000 messages, contiguous versions, a valid hash chain,
every writer's messages in its own order, and read models that agree with ``state()``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionstore import SessionStore
from tests.conformance.backends import fresh_postgres_url

from .test_projection_sigkill import PROJECT, position

WRITERS = 4
MESSAGES = 500

WRITER = textwrap.dedent(
    """
    import json, sys
    from sessionstore import SessionStore
    from sessionstore.domain.errors import ConcurrencyConflict

    url, sid, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conflicts = 0
    with SessionStore(url, durability="normal") as store:
        for i in range(count):
            def step():
                global conflicts
                version = store.current_version(sid)
                try:
                    return store.add_message(sid, "user", f"{tag}:{i}",
                                             expected_version=version)
                except ConcurrencyConflict:
                    conflicts += 1
                    raise
            store.retry(step, attempts=10_000)
    print(json.dumps({"tag": tag, "conflicts": conflicts}))
    """
)


def race(url: str, sid: str) -> list[dict[str, object]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, sid, f"w{n}", str(MESSAGES)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in range(WRITERS)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        reports.append(json.loads(out))
    return reports


def check_session(store: SessionStore, sid: str) -> None:
    state = store.state(sid)
    assert len(state.messages) == WRITERS * MESSAGES
    versions = [e.version for e in store.events(sid)]
    assert versions == list(range(1, WRITERS * MESSAGES + 2))  # SessionCreated + messages
    report = store.verify(sid)
    assert report.ok, report.problems
    contents = [m.content for m in state.messages]
    assert len(set(contents)) == len(contents)  # no duplicate
    for n in range(WRITERS):  # nothing lost, each writer's own order kept
        mine = [int(c.split(":")[1]) for c in contents if c.startswith(f"w{n}:")]
        assert mine == list(range(MESSAGES))
    history = store.history(sid)
    assert [(r["version"], r["content"]) for r in history] == [
        (v, m.content) for v, m in zip(versions[1:], state.messages, strict=True)]
    row = store.session(sid)
    assert (row["messages"], row["version"]) == (WRITERS * MESSAGES, versions[-1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "sessions.db")
    else:
        with fresh_postgres_url() as pg:
            yield pg


def worker_views(url: str, views: Path, proc: subprocess.Popen[str]) -> list[tuple[int, str]]:
    """The worker's messages once it has applied everything; then stop it."""
    with SessionStore(url, views=":memory:") as store:
        last = store._log.max_notification_id()
    deadline = time.monotonic() + 120
    while position(views) < last:
        assert proc.poll() is None and time.monotonic() < deadline, "the worker fell behind"
        time.sleep(0.05)
    proc.terminate()
    proc.wait(timeout=30)
    with sqlite3.connect(views) as db:
        return db.execute("SELECT version, content FROM messages ORDER BY version").fetchall()


@pytest.mark.slow
def test_four_writers_on_one_session_lose_and_duplicate_nothing(url: str, tmp_path: Path) -> None:
    with SessionStore(url) as store:
        sid = store.create_session("race", agent_id="main")
    views = tmp_path / "worker.views.db"
    worker = subprocess.Popen(  # a projection worker follows the race as it happens
        [sys.executable, "-c", PROJECT, "project", "--follow", "--poll", "0.1",
         "--source", url, "--db", str(views)], stderr=subprocess.PIPE, text=True)
    reports = race(url, sid)
    assert sorted(r["tag"] for r in reports) == [f"w{n}" for n in range(WRITERS)]
    print("conflicts retried:", [r["conflicts"] for r in reports])
    followed = worker_views(url, views, worker)
    with SessionStore(url, views=str(tmp_path / "views.db")) as store:
        check_session(store, sid)
        assert followed == [(r["version"], r["content"]) for r in store.history(sid)]
