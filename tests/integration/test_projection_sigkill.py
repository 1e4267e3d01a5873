"""A projector killed with SIGKILL mid catch-up resumes without applying anything twice
or skipping anything: the position commits with the rows."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionstore import SessionStore

from ..unit.test_projection_support import fork, snapshot

pytestmark = pytest.mark.slow
PROJECT = "from sessionstore.cli import main; main()"


def fill(store: SessionStore, sessions: int = 20, messages: int = 80) -> None:
    """About 1,700 events across sessions, a fork and every table's kind of event."""
    ids = []
    with store.batch():
        for n in range(sessions):
            sid = store.create_session(f"s{n}", label=f"l{n % 3}")
            store.change_status(sid, "active")
            store.add_agent(sid, "coder")
            store.start_task(sid, "t1")
            ids.append(sid)
    for sid in ids:
        with store.batch():
            for i in range(messages):
                store.add_message(sid, "assistant" if i % 2 else "user", f"message {i} of {sid}",
                                  tool_calls=[{"name": "bash"}] if i % 10 == 0 else None,
                                  tokens_in=i)
            store.complete_task(sid, "t1", tokens=3)
    forked = fork(store, ids[0], min(40, store.current_version(ids[0])))
    store.add_message(forked, "user", "a fork's own message")


def position(views: Path) -> int:
    try:
        with sqlite3.connect(views, timeout=30) as conn:
            row = conn.execute("SELECT notification_id FROM positions").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return int(row[0]) if row else 0


def test_sigkill_mid_catch_up_then_restart_applies_each_event_once(tmp_path: Path) -> None:
    db, views = tmp_path / "sessions.db", tmp_path / "sessions.views.db"
    with SessionStore(str(db), durability="normal") as store:
        fill(store)
        total = store._log.max_notification_id()
    positions = []
    for quarter in (1, 2, 3):
        proc = subprocess.Popen(
            [sys.executable, "-c", PROJECT, "--db", str(db), "project", "--batch-size", "5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while position(views) < quarter * total // 4 and proc.poll() is None:
            assert time.monotonic() < deadline, "the projector made no progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        positions.append(position(views))
    assert 0 < positions[0] <= positions[1] <= positions[2] < total  # killed mid catch-up

    with SessionStore(str(db), durability="normal") as store:
        assert store.catch_up() == total - positions[2]
        resumed = snapshot(store.views_db)
    applied = [row["notification_id"] for row in resumed["audit"]]
    assert sorted(applied) == list(range(1, total + 1))  # none twice, none skipped
    with SessionStore(str(db), views=str(tmp_path / "fresh.views.db")) as store:
        store.rebuild()
        assert snapshot(store.views_db) == resumed
