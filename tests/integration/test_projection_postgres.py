"""Read models of a PostgreSQL store: SQLite views fed by PostgreSQL's notification log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionstore import SessionStore
from tests.conformance.backends import fresh_postgres_url

from ..unit.test_projection_support import fork, snapshot

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


def test_a_postgres_store_projects_into_memory_by_default(pg_url: str) -> None:
    with SessionStore(pg_url) as store:
        assert store.views_path == ":memory:"
        sid = store.create_session("pg", agent_id="main")
        store.change_status(sid, "active")
        store.add_message(sid, "user", "the deploy is stuck", tokens_in=4)
        child = fork(store, sid, 2)
        store.add_message(child, "assistant", "restart the worker")
        assert [m["content"] for m in store.history(child)] == ["restart the worker"]
        assert [h["session_id"] for h in store.search("deploy")] == [sid]
        assert [a["type"] for a in store.audit(child)] == [
            "SessionCreated", "StatusChanged", "SessionForked", "MessageAdded"]
        incremental = snapshot(store.views_db)
        store.rebuild()
        assert snapshot(store.views_db) == incremental


def test_another_process_views_file_follows_postgres_writes(pg_url: str, tmp_path: Path) -> None:
    views = str(tmp_path / "pg.views.db")
    with SessionStore(pg_url) as writer, SessionStore(pg_url, views=views) as reader:
        sid = writer.create_session("shared")
        writer.add_message(sid, "user", "hello from the writer")
        assert [m["content"] for m in reader.history(sid)] == ["hello from the writer"]
        assert reader.projector.position() == writer._log.max_notification_id()
