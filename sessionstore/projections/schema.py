"""The read-model tables: plain SQLite, created with sqlite-utils so Datasette can browse them.

Every table is derived from the event log alone and can be dropped and rebuilt
(``Projector.rebuild``). ``positions`` holds the last notification id applied; it is written
in the same transaction as the rows, so the tables and the position never disagree.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

POSITION_NAME = "views"

# Column name -> type, in order. Times are ISO-8601 UTC strings with microseconds, so they
# sort as text. JSON columns hold JSON text.
SESSION_COUNTERS = (
    "messages", "tool_calls", "tokens_in", "tokens_out", "tasks_started", "tasks_completed",
    "errors", "restarts", "compactions",
)
TABLES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    # ``source``: the hash of the log's first event, so views built from another log are seen.
    "positions": ({"name": str, "notification_id": int, "source": str}, ("name",)),
    "sessions": (
        {
            "id": str, "name": str, "kind": str, "status": str, "parent_id": str, "label": str,
            "agent_id": str, "task": str, "project_dir": str, "max_agents": int,
            "metadata": str, "result": str, "version": int, "first_version": int,
            "forked_from": str, "fork_version": int, "hash": str,
            "agents": int, "tasks": int,
            **dict.fromkeys(SESSION_COUNTERS, int),
            "created_at": str, "updated_at": str, "finished_at": str, "last_activity": str,
        },
        ("id",),
    ),
    "messages": (
        {
            "session_id": str, "version": int, "seq": int, "role": str, "content": str,
            "tool_calls": str, "tool_name": str, "tool_call_id": str, "agent_id": str,
            "model": str, "tokens_in": int, "tokens_out": int, "metadata": str,
            "recorded_at": str, "occurred_at": str,
        },
        ("session_id", "version"),
    ),
    "agents": (
        {"session_id": str, "agent_id": str, "name": str, "role": str, "status": str,
         "metadata": str, "added_at": str},
        ("session_id", "agent_id"),
    ),
    "tasks": (
        {"session_id": str, "task_id": str, "agent_id": str, "description": str, "status": str,
         "outcome": str, "tokens": int, "started_at": str, "completed_at": str},
        ("session_id", "task_id"),
    ),
    "status_history": (
        {"session_id": str, "version": int, "from_status": str, "to_status": str,
         "reason": str, "recorded_at": str},
        ("session_id", "version"),
    ),
    "lineage": (
        {"session_id": str, "parent_id": str, "parent_version": int, "checkpoint_id": str,
         "reason": str, "recorded_at": str},
        ("session_id",),
    ),
    "checkpoints": (
        {"checkpoint_id": str, "session_id": str, "version": int, "at_version": int,
         "label": str, "recorded_at": str},
        ("checkpoint_id",),
    ),
    # ``data``: the event's own fields as JSON, but for a message's content, which its
    # ``messages`` row holds (queries join it back).
    "audit": (
        {"session_id": str, "version": int, "notification_id": int, "type": str,
         "recorded_at": str, "occurred_at": str, "prev_hash": str, "hash": str, "data": str},
        ("session_id", "version"),
    ),
    "metrics": (
        {"session_id": str, "metric": str, "key": str, "value": int},
        ("session_id", "metric", "key"),
    ),
}
INDEXES: dict[str, list[list[str]]] = {
    "sessions": [["status", "created_at"], ["kind", "created_at"], ["created_at"],
                 ["label"], ["parent_id"], ["forked_from"], ["last_activity"]],
    "audit": [["notification_id"]],
    "lineage": [["parent_id"]],
    "checkpoints": [["session_id"]],
}


def create_tables(db: sqlite_utils.Database) -> None:
    """Create any missing table, column, index and the messages full-text index."""
    for name, (columns, pk) in TABLES.items():
        table = db.table(name)
        if table.exists():  # from an older version: add what it lacks (values come on rebuild)
            for column, kind in columns.items():
                if column not in table.columns_dict:
                    table.add_column(column, kind)
            continue
        table.create(columns, pk=pk[0] if len(pk) == 1 else pk)
        for index in INDEXES.get(name, []):
            table.create_index(index)
        if name == "messages":
            table.enable_fts(["content"], create_triggers=True, tokenize="porter")
    # New messages are indexed by ``index_messages``, one statement a batch: an FTS5 insert
    # from a row trigger flushes the index at each row's savepoint, and cost 4-5 times as
    # much (~115 us a message against ~30). The update and delete triggers stay.
    db.execute(f"DROP TRIGGER IF EXISTS [{MESSAGES_INSERT_TRIGGER}]")


MESSAGES_INSERT_TRIGGER = "messages_ai"  # as sqlite-utils' enable_fts names it


def last_message_rowid(db: sqlite_utils.Database) -> int:
    """The newest ``messages`` rowid (0: none): new rows come after it."""
    return int(db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0])


def index_messages(db: sqlite_utils.Database, after_rowid: int) -> None:
    """Add the messages inserted after ``after_rowid`` to the full-text index."""
    db.execute(
        "INSERT INTO messages_fts (rowid, content) "
        "SELECT rowid, content FROM messages WHERE rowid > ?",
        [after_rowid],
    )


def drop_tables(db: sqlite_utils.Database) -> None:
    """Drop every read-model table (rebuild re-creates them)."""
    for name in [*TABLES, "messages_fts"]:
        db.table(name).drop(ignore=True)
    for trigger in db.triggers:
        db.execute(f"DROP TRIGGER IF EXISTS [{trigger.name}]")


def data_tables() -> list[str]:
    """The tables a rebuilt read model must reproduce row for row."""
    return [name for name in TABLES if name != "positions"]
