"""Two PostgreSQL checkpoint stores whose transactions overlap: a delete and a put that
would leave a delta without its parent never both commit, whichever starts first.

On SQLite one writer holds the database at a time, so the same pair runs one after the
other, as ``test_replay_backends.py`` covers; here the second one waits on the first one's
row lock, and must look again once it gets it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sessionstore import CheckpointsChanged
from tests.conformance.backends import fresh_postgres_url
from tests.unit.test_replay_checkpoint_store import record

pytestmark = pytest.mark.postgres
LOCK_WAIT = 0.5  # seconds the second transaction is given to reach the first one's lock


@pytest.fixture
def stores() -> Iterator[tuple[Any, Any]]:
    """Two checkpoint stores on one database, each with its own connections."""
    from sessionstore.storage.postgres import PostgresCheckpointStore, open_postgres

    with fresh_postgres_url() as url:
        first, second = open_postgres(url), open_postgres(url)
        try:
            yield PostgresCheckpointStore(first), PostgresCheckpointStore(second)
        finally:
            first.close()
            second.close()


class Blocked:
    """``operation`` on a thread of its own: what it returned or raised, once it ends."""

    def __init__(self, operation: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self._operation = operation
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._operation()
        except BaseException as e:  # handed to the test thread
            self.error = e

    def waiting(self) -> bool:
        self._thread.join(LOCK_WAIT)
        return self._thread.is_alive()

    def finish(self) -> BaseException | None:
        self._thread.join(30)
        assert not self._thread.is_alive()
        return self.error


def test_a_put_that_waited_for_a_delete_of_its_parent_refuses(stores: tuple[Any, Any]) -> None:
    deleter, writer = stores
    deleter.put([record("root", 10)])
    from psycopg.sql import SQL

    with deleter._datastore.transaction(commit=True) as c:  # the delete, not yet committed
        c.execute(SQL("DELETE FROM {} WHERE checkpoint_id = 'root'").format(deleter._table))
        put = Blocked(lambda: writer.put([record("d1", 20, parent_id="root")]))
        assert put.waiting()  # on the deleted row's lock
    assert isinstance(put.finish(), CheckpointsChanged)
    assert writer.get("d1") is None and writer.get("root") is None


def test_a_delete_that_waited_for_a_put_of_a_delta_refuses(
    stores: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, deleter = stores
    writer.put([record("root", 10)])
    parents_locked, commit = threading.Event(), threading.Event()
    require_parents = writer._require_parents

    def hold_after_locking(cursor: Any, parents: Any) -> None:
        require_parents(cursor, parents)
        parents_locked.set()
        assert commit.wait(30)

    monkeypatch.setattr(writer, "_require_parents", hold_after_locking)
    put = Blocked(lambda: writer.put([record("d1", 20, parent_id="root")]))
    assert parents_locked.wait(30)
    delete = Blocked(lambda: deleter.delete(["root"]))
    assert delete.waiting()  # on the parent's key-share lock
    commit.set()
    assert put.finish() is None
    assert isinstance(delete.finish(), CheckpointsChanged)
    assert deleter.get("root") is not None and deleter.get("d1") is not None
