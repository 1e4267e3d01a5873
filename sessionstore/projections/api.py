"""The read-model half of ``SessionStore`` (history, sessions, search, audit, metrics).

Where the read models live (``views``): by default a sibling file of a SQLite store
(``sessions.db`` -> ``sessions.views.db``) so projecting never contends with appends, in
memory for a ``:memory:`` store, and in memory for a PostgreSQL store unless a SQLite path
is given. Appends do not wait for projections: every query first applies what is new
(one position lookup when nothing is), so a store always reads its own writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from ..domain.arguments import text, whole_number
from ..domain.errors import InvalidInput
from ..domain.status import Role, SessionKind, SessionStatus, parse_enum
from ..storage.backends import sqlite_path
from ..storage.log import EventLog, check_session_id
from . import queries as q
from .projector import Progress, Projector, open_views
from .rows import Row

T = TypeVar("T")


def default_views(url: str) -> str:
    """Where a store at ``url`` keeps its read models when ``views`` is not given."""
    if url.startswith(("postgresql://", "postgres://", "memory://")):
        return ":memory:"
    path = sqlite_path(url)
    if path == ":memory:":
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}.views{p.suffix or '.db'}"))


class ReadModelsMixin:
    """Queries over the SQLite read models. Mixed into ``SessionStore``."""

    url: str
    _log: EventLog

    def _init_read_models(self, views: str | None) -> None:
        # An explicit ``views`` is a SQLite path, ``sqlite:///path`` or ``:memory:``.
        self.views_path = sqlite_path(views) if views is not None else default_views(self.url)
        self._projector: Projector | None = None
        self._opening_views = threading.Lock()

    @property
    def projector(self) -> Projector:
        """The store's projector, opened on first use."""
        with self._opening_views:
            if self._projector is None:
                self._log.check_open()  # a closed store opens no views file again
                self._projector = Projector(open_views(self.views_path), self._log)
            return self._projector

    @property
    def views_db(self) -> sqlite_utils.Database:
        return self.projector.db

    def close(self) -> None:
        with self._opening_views:
            if self._projector is not None:
                self._projector.db.close()
                self._projector = None
        super().close()  # type: ignore[misc]

    # -- keeping current --------------------------------------------------------------------
    def catch_up(self, *, progress: Progress | None = None) -> int:
        """Apply events recorded since the last catch-up; returns how many."""
        projector = self.projector
        if projector.behind() == 0:
            return 0
        return projector.catch_up(progress=progress)

    def rebuild(self, *, progress: Progress | None = None) -> int:
        """Drop every read model and rebuild it from the whole log; returns events applied."""
        return self.projector.rebuild(progress=progress)

    def _query(self, read: Callable[[sqlite_utils.Database], T]) -> T:
        """Catch up, then run ``read`` while no batch is half applied on the connection."""
        self.catch_up()
        with self.projector.lock:
            return read(self.projector.db)

    # -- queries ----------------------------------------------------------------------------
    def history(self, session_id: str, *, limit: int | None = None, include_tools: bool = True,
                roles: list[str] | None = None) -> list[Row]:
        """Messages, oldest first (a fork's include its parent's up to the fork point).

        With ``limit``, the latest ``limit`` messages. ``include_tools=False`` leaves out
        tool results; ``roles`` keeps only those roles.
        """
        checked = [parse_enum(Role, r, "role").value for r in roles] if roles else None
        sid, most = check_session_id(session_id), _limit(limit)
        return self._query(lambda db: q.history(db, sid, limit=most,
                                                include_tools=include_tools, roles=checked))

    def sessions(self, *, kind: str | None = None, status: str | None = None,
                 active_only: bool = False, label: str | None = None,
                 parent_id: str | None = None, limit: int | None = 100) -> list[Row]:
        """The session index, newest first. ``active_only``: sessions not yet finished."""
        filters: dict[str, Any] = dict(
            kind=parse_enum(SessionKind, kind, "kind").value if kind else None,
            status=parse_enum(SessionStatus, status, "status").value if status else None,
            active_only=active_only, label=label,
            parent_id=check_session_id(parent_id) if parent_id else None, limit=_limit(limit))
        return self._query(lambda db: q.sessions(db, **filters))

    def session(self, session_id: str) -> Row:
        """One session's index row."""
        sid = check_session_id(session_id)
        return self._query(lambda db: q.session_row(db, sid))

    def session_by_label(self, label: str) -> Row | None:
        """The newest session with ``label``, or None."""
        found = self._query(lambda db: q.sessions(db, kind=None, status=None, active_only=False,
                                                  label=label, parent_id=None, limit=1))
        return found[0] if found else None

    def children(self, session_id: str) -> list[Row]:
        """Sub-agent sessions and forks whose parent is ``session_id``, oldest first."""
        sid = check_session_id(session_id)

        def read(db: sqlite_utils.Database) -> list[Row]:
            q.session_row(db, sid)
            return q.sessions(db, kind=None, status=None, active_only=False, label=None,
                              parent_id=sid, limit=None)

        return list(reversed(self._query(read)))

    def stale_sessions(self, idle_for: timedelta | float) -> list[Row]:
        """Open sessions with no event for ``idle_for`` (a timedelta or seconds)."""
        before = q.idle_cutoff(self._now(), idle_for)
        return self._query(lambda db: q.stale(db, before=before))

    def search(self, query: str, *, session_id: str | None = None, limit: int = 20) -> list[Row]:
        """Full-text search over message contents, best match first, with snippets."""
        if not text(query, "query").strip():
            raise InvalidInput("search needs some words to look for")
        sid = check_session_id(session_id) if session_id is not None else None
        most = _limit(limit) or 20
        return self._query(lambda db: q.search(db, query, session_id=sid, limit=most))

    def audit(self, session_id: str) -> list[Row]:
        """Every event of the session in order (a fork's parent part first), with hashes."""
        sid = check_session_id(session_id)
        return self._query(lambda db: q.audit(db, sid))

    def metrics(self, session_id: str | None = None) -> dict[str, Any]:
        """One session's metrics, or the global ones when ``session_id`` is None."""
        if session_id is None:
            return self._query(q.global_metrics)
        sid, now = check_session_id(session_id), self._now()
        return self._query(lambda db: q.session_metrics(db, sid, now))

    def _now(self) -> datetime:
        clock = getattr(self, "_clock", None)
        return clock() if clock is not None else datetime.now().astimezone()


def _limit(limit: int | None) -> int | None:
    return None if limit is None else whole_number(limit, "limit", at_least=1)
