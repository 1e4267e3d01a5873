"""Helpers the projection tests share (forking, table snapshots), and a check that a fork
is what the projections expect: the parent's state at the fork point, versions going on."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from sessionstore import SessionStore
from sessionstore.projections.schema import data_tables

TABLE_ORDER = {"sessions": "id", "checkpoints": "checkpoint_id"}


def fork(store: SessionStore, parent_id: str, at_version: int, *, reason: str | None = None,
         name: str | None = None) -> str:
    """Fork ``parent_id`` at ``at_version``: one ``SessionForked`` event at
    ``at_version + 1`` in a new session, nothing copied."""
    return store.fork(parent_id, at_version=at_version, reason=reason, name=name)


def snapshot(db: sqlite_utils.Database) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row, in a stable order, plus the full-text index's contents."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in data_tables():
        order = TABLE_ORDER.get(name, "session_id, version" if name in (
            "messages", "audit", "status_history") else "1, 2, 3")
        tables[name] = list(db.query(f"SELECT * FROM {name} ORDER BY {order}"))
    # Raises unless the full-text index holds exactly the messages' content, each once (the
    # query below reads the content from the messages table, not from the index).
    db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    tables["messages_fts"] = list(db.query(
        "SELECT m.session_id, m.version, f.content FROM messages_fts f "
        "JOIN messages m ON m.rowid = f.rowid ORDER BY 1, 2"))
    return tables


def test_a_fork_starts_from_the_parent_state_and_continues_its_versions() -> None:
    with SessionStore(":memory:") as store:
        parent = store.create_session("parent")
        store.change_status(parent, "active")
        store.add_message(parent, "user", "first")
        store.add_message(parent, "user", "second")
        child = fork(store, parent, 3, reason="what if")
        state = store.state(child)
        assert state.version == 4
        assert [m.content for m in state.messages] == ["first"]
        assert state.lineage[0].parent_id == parent and state.lineage[0].parent_version == 3
        assert store.add_message(child, "user", "own") == 5
