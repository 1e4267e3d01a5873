"""Thin queries over the read models. Each returns plain rows (dicts), JSON columns decoded.

A fork stores only its own events; its history and audit trail follow the ``lineage`` table
up the fork tree: the parent's rows up to the fork point, then the fork's own. Versions
increase along that path, so one ``ORDER BY version`` puts the segments in order.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.status import TERMINAL_STATUSES
from ..gcpause import gc_paused
from .rows import AUDIT_ROWS, Row, iso, parse_time, with_content

JSON_COLUMNS = ("metadata", "tool_calls", "data")
TERMINAL = tuple(sorted(s.value for s in TERMINAL_STATUSES))


def _json(text: Any) -> Any:
    """A JSON column's value. Most hold an empty list or object: those skip the parser (a
    full history spent more time in ``json.loads`` than in SQLite), each a new object so no
    two rows share one."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text) if isinstance(text, str) else text


@gc_paused  # thousands of new dicts and lists, none in a cycle: see gcpause
def _rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[Row]:
    """Rows as dicts, JSON columns decoded: one dict per row, built once."""
    cursor = db.execute(sql, params)
    names = [column[0] for column in cursor.description]
    decode = [name for name in names if name in JSON_COLUMNS]
    rows: list[Row] = []
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        for name in decode:
            row[name] = _json(row[name])
        rows.append(row)
    return rows


def session_row(db: sqlite_utils.Database, session_id: str) -> Row:
    rows = _rows(db, "SELECT * FROM sessions WHERE id = ?", [session_id])
    if not rows:
        raise SessionNotFound(session_id)
    return rows[0]


def segments(db: sqlite_utils.Database, session_id: str) -> list[tuple[str, int | None]]:
    """(session, last version to include) from ``session_id`` up to the root of its forks."""
    session_row(db, session_id)
    path: list[tuple[str, int | None]] = [(session_id, None)]
    current, upto = session_id, None
    while (link := db.execute("SELECT parent_id, parent_version FROM lineage "
                              "WHERE session_id = ?", [current]).fetchone()) is not None:
        current, upto = link[0], link[1] if upto is None else min(upto, link[1])
        path.append((current, upto))
    return path


def _segment_filter(path: list[tuple[str, int | None]], alias: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for sid, upto in path:
        if upto is None:
            clauses.append(f"{alias}.session_id = ?")
            params.append(sid)
        else:
            clauses.append(f"({alias}.session_id = ? AND {alias}.version <= ?)")
            params.extend([sid, upto])
    return "(" + " OR ".join(clauses) + ")", params


def history(db: sqlite_utils.Database, session_id: str, *, limit: int | None,
            include_tools: bool, roles: list[str] | None) -> list[Row]:
    """Messages oldest first; with ``limit``, the latest ``limit`` of them."""
    where, params = _segment_filter(segments(db, session_id), "m")
    if not include_tools:
        where += " AND m.role != 'tool'"
    if roles:
        where += f" AND m.role IN ({', '.join('?' * len(roles))})"
        params.extend(roles)
    sql = f"SELECT m.* FROM messages m WHERE {where} ORDER BY m.version DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return list(reversed(_rows(db, sql, params)))


def audit(db: sqlite_utils.Database, session_id: str) -> list[Row]:
    where, params = _segment_filter(segments(db, session_id), "a")
    rows = _rows(db, f"{AUDIT_ROWS} WHERE {where} ORDER BY a.version", params)
    for row in rows:
        row["data"] = with_content(row, row["data"])
    return rows


def sessions(db: sqlite_utils.Database, *, kind: str | None, status: str | None,
             active_only: bool, label: str | None, parent_id: str | None,
             limit: int | None) -> list[Row]:
    """Sessions newest first, filtered."""
    where: list[str] = ["1"]
    params: list[Any] = []
    for column, value in (("kind", kind), ("status", status), ("label", label),
                          ("parent_id", parent_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if active_only:
        where.append(f"status NOT IN ({', '.join('?' * len(TERMINAL))})")
        params.extend(TERMINAL)
    sql = f"SELECT * FROM sessions WHERE {' AND '.join(where)} ORDER BY created_at DESC, id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return _rows(db, sql, params)


def stale(db: sqlite_utils.Database, *, before: datetime) -> list[Row]:
    """Open sessions whose last activity is older than ``before``, stalest first."""
    marks = ", ".join("?" * len(TERMINAL))
    return _rows(db, f"SELECT * FROM sessions WHERE status NOT IN ({marks}) "
                     "AND last_activity < ? ORDER BY last_activity", [*TERMINAL, iso(before)])


def search(db: sqlite_utils.Database, query: str, *, session_id: str | None,
           limit: int) -> list[Row]:
    """Full-text matches, best first, each with a snippet: matched words in ``**``."""
    where, params = "messages_fts MATCH ?", [query]
    if session_id is not None:
        seg_where, seg_params = _segment_filter(segments(db, session_id), "m")
        where, params = f"{where} AND {seg_where}", [*params, *seg_params]
    sql = ("SELECT m.session_id, m.version, m.seq, m.role, m.agent_id, m.recorded_at, "
           "snippet(messages_fts, 0, '**', '**', '…', 16) AS snippet "
           "FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid "
           f"WHERE {where} ORDER BY messages_fts.rank LIMIT ?")
    try:
        return _rows(db, sql, [*params, limit])
    except sqlite3.OperationalError:
        pass
    # Not valid FTS5 syntax (e.g. a stray quote or colon): search for the words as typed.
    quoted = db.quote_fts(query)
    try:
        if quoted != query:
            return _rows(db, sql, [quoted, *params[1:], limit])
    except sqlite3.OperationalError:
        pass
    raise InvalidInput(
        f"cannot search for {query!r}: not a valid full-text query; search for words, a "
        'phrase in double quotes ("rounding error"), or words joined by AND, OR, NOT'
    )


def _counts(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, int]:
    return {str(k): int(n) for k, n in db.execute(sql, params).fetchall()}


def session_metrics(db: sqlite_utils.Database, session_id: str, now: datetime) -> Row:
    s = session_row(db, session_id)
    by_metric: dict[str, dict[str, int]] = {"messages_by_role": {}, "tool_calls_by_tool": {}}
    for metric, key, value in db.execute(
            "SELECT metric, key, value FROM metrics WHERE session_id = ? ORDER BY metric, key",
            [session_id]).fetchall():
        by_metric.setdefault(metric, {})[key] = value
    created, finished = parse_time(s["created_at"]), parse_time(s["finished_at"])
    uptime = ((finished or now) - created).total_seconds() if created else 0.0
    return {
        "session_id": session_id, "status": s["status"],
        "agents_by_status": _counts(db, "SELECT status, COUNT(*) FROM agents WHERE "
                                        "session_id = ? GROUP BY status", [session_id]),
        **by_metric,
        "messages": s["messages"], "tool_calls": s["tool_calls"],
        "errors": s["errors"], "restarts": s["restarts"], "compactions": s["compactions"],
        "tasks_started": s["tasks_started"], "tasks_completed": s["tasks_completed"],
        "tokens_in": s["tokens_in"], "tokens_out": s["tokens_out"],
        "uptime_seconds": max(0.0, uptime),
    }


def global_metrics(db: sqlite_utils.Database) -> Row:
    by_status = _counts(db, "SELECT status, COUNT(*) FROM sessions GROUP BY status", [])
    (sessions_n,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
    # From the events, each counted once: a fork's sessions row carries the task counters
    # it inherited from its parent, so summing those rows counted a task once per fork.
    events = _counts(db, "SELECT type, COUNT(*) FROM audit WHERE type IN "
                         "('TaskStarted', 'TaskCompleted') GROUP BY type", [])
    tasks, completed = events.get("TaskStarted", 0), events.get("TaskCompleted", 0)
    return {
        "sessions": sessions_n,
        "sessions_by_status": by_status,
        "sessions_by_kind": _counts(db, "SELECT kind, COUNT(*) FROM sessions GROUP BY kind", []),
        "active": by_status.get("active", 0), "idle": by_status.get("idle", 0),
        "tasks": tasks, "tasks_completed": completed,
        "session_reuse_rate": (tasks - sessions_n) / tasks if tasks else None,
    }


def idle_cutoff(now: datetime, idle_for: timedelta | float) -> datetime:
    seconds = idle_for.total_seconds() if isinstance(idle_for, timedelta) else float(idle_for)
    if seconds < 0:
        raise InvalidInput(f"idle_for must not be negative (got {seconds} seconds)")
    return now - timedelta(seconds=seconds)
