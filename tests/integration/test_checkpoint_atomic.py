"""An explicit checkpoint and its ``CheckpointCreated`` event are stored by one transaction
(SQLite, in a file or in memory, and PostgreSQL): a failure or a kill at any point stores
both or neither. Before, the checkpoint was written first in a transaction of its own (a
kill before the event left a labelled checkpoint that no event names), and in a batch it
was written after the batch (a kill there left an event naming a checkpoint never stored).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionstore import SessionStore
from sessionstore.domain import events as ev
from sessionstore.storage.checkpoints import InMemoryCheckpointStore
from tests.conformance.backends import fresh_postgres_url

KILLED = 3  # the exit status of a writer that died where the test told it to


@pytest.fixture(params=["sqlite", ":memory:", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "atomic.db")
    elif request.param == ":memory:":
        yield ":memory:"
    else:
        with fresh_postgres_url() as pg:
            yield pg


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database on disk, that several stores and processes can open."""
    if request.param == "sqlite":
        yield str(tmp_path / "durable.db")
    else:
        with fresh_postgres_url() as pg:
            yield pg


def _session(store: SessionStore, messages: int) -> str:
    sid = store.create_session("atomic", agent_id="main")
    for i in range(messages):
        store.add_message(sid, "user", f"message {i}")
    return sid


def _fail_after_the_checkpoint_rows(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next append that stores checkpoint rows fails right after them, before COMMIT,
    and nothing may clean up after it (as if the process had died)."""
    checkpoints = store._checkpointer.store
    joined = checkpoints.joined

    def failing(records: Any) -> Any:
        write = joined(records)
        assert write is not None

        def then_fail(cursor: Any) -> None:
            write(cursor)
            raise RuntimeError("the writer died before its commit")

        return then_fail

    def no_cleanup(ids: Any) -> None:
        raise AssertionError("nothing is left to clean up")

    monkeypatch.setattr(checkpoints, "joined", failing)
    monkeypatch.setattr(checkpoints, "delete", no_cleanup)


def test_a_failure_before_the_commit_stores_neither_the_checkpoint_nor_its_event(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SessionStore(url, durability="normal", checkpoint_every=1000) as store:
        sid = _session(store, 3)
        _fail_after_the_checkpoint_rows(store, monkeypatch)
        with pytest.raises(RuntimeError, match="died before its commit"):
            store.checkpoint(sid, label="lost")
        monkeypatch.undo()
        assert store.checkpoints(sid) == []
        assert store.current_version(sid) == 4
        # The store goes on: the next checkpoint is stored with its event.
        cid = store.checkpoint(sid, label="kept")
        assert [c.checkpoint_id for c in store.checkpoints(sid)] == [cid]
        assert store.state(sid, checkpoint=cid) == store.state(sid, at_version=4)


def test_a_failed_batch_stores_none_of_its_checkpoints(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SessionStore(url, durability="normal", checkpoint_every=2) as store:
        sid = _session(store, 1)
        _fail_after_the_checkpoint_rows(store, monkeypatch)
        with pytest.raises(RuntimeError, match="died before its commit"), store.batch():
            for i in range(3):  # an automatic checkpoint the explicit one may build on
                store.add_message(sid, "user", f"batched {i}")
            store.checkpoint(sid, label="in a batch")
        monkeypatch.undo()
        assert store.current_version(sid) == 2
        assert [c.version for c in store.checkpoints(sid)] == [2]  # from before the batch


def test_an_explicit_checkpoint_in_a_batch_may_build_on_the_batchs_automatic_ones(
    url: str,
) -> None:
    with SessionStore(url, durability="normal", checkpoint_every=1) as store:
        sid = _session(store, 0)
        with store.batch():
            store.add_message(sid, "user", "one")
            store.add_message(sid, "user", "two")
            cid = store.checkpoint(sid, label="after two")
        explicit = store.checkpoint_info(cid)
        automatic = {c.checkpoint_id: c.version for c in store.checkpoints(sid) if c.automatic}
        assert automatic[explicit.parent_id] in (2, 3)  # one the batch took
        assert store.state(sid, checkpoint=cid) == store.state(sid, at_version=3)
        assert store.verify(sid).ok


def test_another_sessions_failed_automatic_checkpoint_does_not_fail_the_batch(
    durable_url: str,
) -> None:
    with SessionStore(durable_url, durability="normal", checkpoint_every=3) as mine, \
            SessionStore(durable_url, durability="normal", checkpoint_every=3) as other:
        a, b = _session(mine, 0), _session(mine, 3)  # b has an automatic checkpoint
        other.prune_checkpoints(b, keep=0)  # mine's next one of b would be a delta of it
        with mine.batch():
            for i in range(3):
                mine.add_message(b, "user", f"more {i}")
            cid = mine.checkpoint(a, label="a only")
        assert (mine.current_version(a), mine.current_version(b)) == (2, 7)
        assert [c.checkpoint_id for c in mine.checkpoints(a)] == [cid]
        for store in (mine, other):
            assert store.verify().ok


def test_a_batch_opened_while_another_threads_is_open_cleans_up_after_itself(url: str) -> None:
    with SessionStore(url, durability="normal", checkpoint_every=1000) as store:
        a, b = _session(store, 0), _session(store, 1)
        inside, release = threading.Event(), threading.Event()

        def first() -> None:
            with store.batch():
                store.add_message(a, "user", "held open")
                inside.set()
                release.wait(10)

        def second() -> None:
            # Entered while the first batch is open: waits for it, then is a batch of its own.
            with contextlib.suppress(RuntimeError), store.batch():
                store.checkpoint(b, label="never recorded")
                raise RuntimeError("the second batch fails")

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        threads[0].start()
        assert inside.wait(10)
        threads[1].start()
        time.sleep(0.2)  # the second thread is waiting for the store by now
        release.set()
        for thread in threads:
            thread.join(10)
        store.add_message(a, "user", "a later write")  # must not store the second's checkpoint
        assert store.checkpoints(b) == []
        assert store.current_version(b) == 2


def test_the_memory_backend_stores_the_checkpoint_first_and_removes_it_on_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SessionStore("memory://", checkpoint_every=1000) as store:
        assert isinstance(store._checkpointer.store, InMemoryCheckpointStore)
        assert store._checkpointer.store.joined([]) is None  # no transaction to join
        sid = _session(store, 2)

        def lost(*args: object, **kwargs: object) -> int:
            raise RuntimeError("the event write failed")

        monkeypatch.setattr(store, "_write", lost)
        with pytest.raises(RuntimeError, match="event write failed"):
            store.checkpoint(sid, label="lost")
        assert store.checkpoints(sid) == []


# -- a writer killed around the commit --------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import os, sys
    from sessionstore import SessionStore
    from sessionstore.storage.log import EventLog

    url, sid, where, batched = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "batch"
    store = SessionStore(url, durability="full", checkpoint_every=1000)
    checkpoints = store._checkpointer.store
    joined = getattr(checkpoints, "joined", None)
    record = EventLog._record

    def die_inside(records):
        write = joined(records)
        def then_die(cursor):
            write(cursor)
            os._exit(KILLED)
        return then_die

    def die_after(self, rows, heads, also=None):
        ids = record(self, rows, heads, also)
        if any(row.topic == "CheckpointCreated" for row in rows):
            os._exit(KILLED)
        return ids

    if where == "inside":
        checkpoints.joined = die_inside
    else:
        EventLog._record = die_after
    if batched:
        with store.batch():
            store.add_message(sid, "user", "batched")
            store.checkpoint(sid, label="kill")
    else:
        store.checkpoint(sid, label="kill")
    """
).replace("KILLED", str(KILLED))


@pytest.mark.parametrize("mode", ["alone", "batch"])
@pytest.mark.parametrize("where", ["inside", "after"])
def test_a_writer_killed_around_the_commit_leaves_both_or_neither(
    durable_url: str, where: str, mode: str
) -> None:
    with SessionStore(durable_url, durability="full") as store:
        sid = _session(store, 3)
    done = subprocess.run(
        [sys.executable, "-c", WRITER, durable_url, sid, where, mode],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == KILLED, done.stderr
    with SessionStore(durable_url, durability="full") as store:
        named = [
            e.event.checkpoint_id for e in store.events(sid)
            if isinstance(e.event, ev.CheckpointCreated)
        ]
        stored = [c.checkpoint_id for c in store.checkpoints(sid) if not c.automatic]
        assert stored == named
        assert len(named) == (0 if where == "inside" else 1)
        for cid in named:
            at = store.checkpoint_info(cid).version
            assert store.state(sid, checkpoint=cid) == store.state(sid, at_version=at)
        assert store.verify(sid).ok
