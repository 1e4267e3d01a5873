"""Applying one batch of recorded events to the read models, inside the caller's transaction.

For each event the session's state is loaded from its rows (once per batch), advanced with
the one reducer and written back; rows that record the event itself (messages, audit,
status history, lineage, checkpoints, metrics) are buffered and written with one
``executemany`` per table. A fork's first event is the exception: its starting state is its
parent's at the fork point, rebuilt from the audit rows (recursively for forks of forks),
so the fork's row agrees with ``SessionStore.state``.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from functools import cache
from typing import Any

import sqlite_utils

from ..domain import events as ev
from ..domain.errors import IntegrityError
from ..domain.reducer import apply, replay
from ..domain.state import SessionState
from ..storage.log import Recorded
from . import rows as r
from .schema import TABLES, index_messages, last_message_rowid


@cache
def insert_sql(table: str) -> str:
    columns = list(TABLES[table][0])
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})")


class StateCache:
    """Session states (messages left out) kept from one batch to the next.

    Loading a state from its rows costs three queries; a projector that applied the
    previous batch itself already holds it. The cache is only trusted while the stored
    position is the one this projector committed last: if another process applied events
    in between, or a batch failed, it is emptied.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.entries: OrderedDict[str, tuple[SessionState, r.Row]] = OrderedDict()
        self.position: int | None = None

    def check(self, position: int) -> None:
        if position != self.position:
            self.clear()

    def get(self, sid: str) -> tuple[SessionState, r.Row] | None:
        hit = self.entries.get(sid)
        if hit is not None:
            self.entries.move_to_end(sid)
        return hit

    def keep(self, batch: Batch, position: int) -> None:
        for sid, state in batch.states.items():
            state.messages.clear()  # rows hold them; the reducer only appends to the list
            self.entries[sid] = (state, batch.extra[sid])
            self.entries.move_to_end(sid)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        self.position = position

    def clear(self) -> None:
        self.entries.clear()
        self.position = None


class Batch:
    """The sessions touched by one batch, their states and the rows still to write."""

    def __init__(self, db: sqlite_utils.Database, cache: StateCache | None = None) -> None:
        self.db = db
        self.cache = cache or StateCache(0)
        self.states: dict[str, SessionState] = {}
        self.extra: dict[str, r.Row] = {}
        self.buffers: dict[str, list[r.Row]] = defaultdict(list)
        self.dirty_agents: set[tuple[str, str]] = set()
        self.dirty_tasks: set[tuple[str, str]] = set()
        self.metric_deltas: Counter[tuple[str, str, str]] = Counter()

    # -- applying ---------------------------------------------------------------------------
    def apply(self, item: Recorded) -> None:
        e = item.event
        sid = e.session_id
        if isinstance(e, ev.SessionForked):
            state, prev_hash = self._fork_start(e)
        elif isinstance(e, ev.SessionCreated):
            state, prev_hash = SessionState(session_id=sid), ""
            self.extra[sid] = {"first_version": e.version, "forked_from": None,
                               "fork_version": None}
        else:
            state = self._state(sid)
            prev_hash = self.extra[sid]["hash"]
        self.states[sid] = apply(state, e)
        self.extra[sid]["hash"] = e.hash.hex()
        self.buffers["audit"].append(r.audit_row(item.notification_id, e, prev_hash))
        self._record(e)

    def _record(self, e: ev.Event) -> None:
        sid = e.session_id
        match e:
            case ev.MessageAdded():
                self.buffers["messages"].append(r.message_row(e))
                for metric, key in r.message_metrics(e.role.value, e.tool_calls):
                    self.metric_deltas[(sid, metric, key)] += 1
            case ev.AgentAdded() | ev.AgentRemoved() | ev.AgentStatusChanged():
                self.dirty_agents.add((sid, e.agent_id))
            case ev.TaskStarted() | ev.TaskCompleted():
                self.dirty_tasks.add((sid, e.task_id))
            case ev.StatusChanged() | ev.SessionCompleted() | ev.SessionReopened():
                self.buffers["status_history"].append(r.status_row(e))
            case ev.SessionForked():
                self.buffers["lineage"].append(r.lineage_row(e))
            case ev.CheckpointCreated():
                self.buffers["checkpoints"].append(r.checkpoint_row(e))

    def _state(self, sid: str) -> SessionState:
        state = self.states.get(sid)
        if state is not None:
            return state
        hit = self.cache.get(sid)
        if hit is not None:
            self.states[sid], self.extra[sid] = hit
            return hit[0]
        session = next(iter(self.db.query("SELECT * FROM sessions WHERE id = ?", [sid])), None)
        if session is None:
            raise IntegrityError(
                f"the read models have no row for session {sid} but its later events arrived; "
                "rebuild them with `sessionstore project --rebuild`")
        agents = list(self.db.query("SELECT * FROM agents WHERE session_id = ?", [sid]))
        tasks = list(self.db.query("SELECT * FROM tasks WHERE session_id = ?", [sid]))
        self.extra[sid] = {k: session[k] for k in
                           ("first_version", "forked_from", "fork_version", "hash")}
        self.states[sid] = r.state_from_rows(session, agents, tasks)
        return self.states[sid]

    def _fork_start(self, e: ev.SessionForked) -> tuple[SessionState, str]:
        self.flush()  # the parent's audit rows of this batch must be readable
        state = self.state_at(e.parent_id, e.parent_version)
        sid = e.session_id
        self.extra[sid] = {"first_version": e.version, "forked_from": e.parent_id,
                           "fork_version": e.parent_version}
        self.dirty_agents.update((sid, a) for a in state.agents)
        self.dirty_tasks.update((sid, t) for t in state.tasks)
        for m in state.messages:
            for metric, key in r.message_metrics(m.role.value, m.tool_calls):
                self.metric_deltas[(sid, metric, key)] += 1
        parent_hash = self.db.execute(
            "SELECT hash FROM audit WHERE session_id = ? AND version = ?",
            [e.parent_id, e.parent_version]).fetchone()
        return state, parent_hash[0] if parent_hash else ""

    def state_at(self, sid: str, upto: int) -> SessionState:
        """The full state of ``sid`` at version ``upto``, replayed from the audit rows."""
        base: SessionState | None = None
        lineage = self.db.execute(
            "SELECT parent_id, parent_version FROM lineage WHERE session_id = ?", [sid]).fetchone()
        if lineage is not None:
            base = self.state_at(lineage[0], min(upto, lineage[1]))
            if upto <= lineage[1]:
                return base
        audit = self.db.query(f"{r.AUDIT_ROWS} WHERE a.session_id = ? AND a.version <= ? "
                              "ORDER BY a.version", [sid, upto])
        return replay((r.event_from_audit(row) for row in audit), base)

    # -- writing ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything buffered so far (still inside the caller's transaction)."""
        indexed = last_message_rowid(self.db) if self.buffers.get("messages") else None
        for table, rows in self.buffers.items():
            # Plain executemany: these rows already match the schema, and this is the hot
            # path (sqlite-utils' insert_all re-inspects every value of every row).
            self.db.conn.executemany(insert_sql(table), rows)
        self.buffers.clear()
        if indexed is not None:
            index_messages(self.db, indexed)
        self.db.table("sessions").upsert_all(
            [r.session_row(s, self.extra[sid]) for sid, s in self.states.items()], pk="id")
        self._write_members("agents", "agent_id", self.dirty_agents,
                            lambda sid, key: self._member_row("agents", sid, key))
        self._write_members("tasks", "task_id", self.dirty_tasks,
                            lambda sid, key: self._member_row("tasks", sid, key))
        self.dirty_agents, self.dirty_tasks = set(), set()
        self.db.conn.executemany(
            "INSERT INTO metrics VALUES (?, ?, ?, ?) ON CONFLICT (session_id, metric, key) "
            "DO UPDATE SET value = value + excluded.value",
            [(*key, n) for key, n in sorted(self.metric_deltas.items())])
        self.metric_deltas.clear()

    def _member_row(self, table: str, sid: str, key: str) -> r.Row | None:
        state = self.states[sid]
        if table == "agents":
            agent = state.agents.get(key)
            return None if agent is None else r.agent_row(sid, agent)
        task = state.tasks.get(key)
        return None if task is None else r.task_row(sid, task)

    def _write_members(self, table: str, key_column: str, dirty: set[tuple[str, str]],
                       row_of: Any) -> None:
        upserts, deletes = [], []
        for sid, key in sorted(dirty):
            row = row_of(sid, key)
            if row is None:
                deletes.append((sid, key))
            else:
                upserts.append(row)
        if upserts:
            self.db.table(table).upsert_all(upserts, pk=("session_id", key_column))
        self.db.conn.executemany(
            f"DELETE FROM {table} WHERE session_id = ? AND {key_column} = ?", deletes)
