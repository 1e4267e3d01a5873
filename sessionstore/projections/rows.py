"""Conversions between events, ``SessionState`` and read-model rows.

The projector never re-implements the reducer: it loads a session's state from its rows,
applies the event with the one reducer and writes the state back. These helpers are the
two directions of that round trip, plus the rows that record an event itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from ..domain import events as ev
from ..domain.state import AgentInfo, Counters, SessionState, TaskInfo
from .schema import SESSION_COUNTERS

Row = dict[str, Any]
MESSAGE_ADDED = ev.MessageAdded.type_name


def iso(moment: datetime | None) -> str | None:
    """Times as text that sorts: UTC ISO-8601, always with microseconds."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False, sort_keys=True)


# -- session state <-> sessions row ---------------------------------------------------------
def session_row(state: SessionState, extra: Row) -> Row:
    """The sessions row of ``state``; ``extra`` holds what the state does not (hash, fork)."""
    counters = state.counters.model_dump()
    return {
        "id": state.session_id, "name": state.name, "kind": state.kind.value,
        "status": state.status.value, "parent_id": state.parent_id, "label": state.label,
        "agent_id": state.agent_id, "task": state.task, "project_dir": state.project_dir,
        "max_agents": state.max_agents, "metadata": to_json(state.metadata),
        "result": state.result, "version": state.version, **extra,
        "agents": len(state.agents), "tasks": len(state.tasks),
        **{name: counters[name] for name in SESSION_COUNTERS},
        "created_at": iso(state.created_at), "updated_at": iso(state.updated_at),
        "finished_at": iso(state.finished_at), "last_activity": iso(state.updated_at),
    }


def state_from_rows(row: Row, agents: list[Row], tasks: list[Row]) -> SessionState:
    """A session's state without its messages (the reducer only appends to them)."""
    return SessionState(
        session_id=row["id"], version=row["version"], name=row["name"], kind=row["kind"],
        status=row["status"], agent_id=row["agent_id"], parent_id=row["parent_id"],
        label=row["label"], task=row["task"], project_dir=row["project_dir"],
        max_agents=row["max_agents"], metadata=json.loads(row["metadata"]),
        result=row["result"], created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]), finished_at=parse_time(row["finished_at"]),
        counters=Counters(**{name: row[name] for name in SESSION_COUNTERS}),
        agents={a["agent_id"]: AgentInfo(
            agent_id=a["agent_id"], name=a["name"], role=a["role"], status=a["status"],
            metadata=json.loads(a["metadata"]), added_at=parse_time(a["added_at"]),
        ) for a in agents},
        tasks={t["task_id"]: TaskInfo(
            task_id=t["task_id"], agent_id=t["agent_id"], description=t["description"],
            status=t["status"], outcome=t["outcome"], tokens=t["tokens"],
            started_at=parse_time(t["started_at"]), completed_at=parse_time(t["completed_at"]),
        ) for t in tasks},
    )


def agent_row(session_id: str, agent: AgentInfo) -> Row:
    return {"session_id": session_id, "agent_id": agent.agent_id, "name": agent.name,
            "role": agent.role, "status": agent.status.value,
            "metadata": to_json(agent.metadata), "added_at": iso(agent.added_at)}


def task_row(session_id: str, task: TaskInfo) -> Row:
    return {"session_id": session_id, "task_id": task.task_id, "agent_id": task.agent_id,
            "description": task.description, "status": task.status.value,
            "outcome": task.outcome, "tokens": task.tokens,
            "started_at": iso(task.started_at), "completed_at": iso(task.completed_at)}


# -- events <-> rows --------------------------------------------------------------------------
AUDIT_ROWS = (
    "SELECT a.*, m.content AS message_content FROM audit a "
    "LEFT JOIN messages m ON m.session_id = a.session_id AND m.version = a.version"
)
"""Audit rows with each message's content joined back: ``with_content`` puts it in ``data``."""


def audit_row(notification_id: int, event: ev.Event, prev_hash: str) -> Row:
    """The audit row of ``event``. A message's content is left out of ``data``: the
    ``messages`` row of the same version holds it, and storing it twice made the audit
    table half of the read models' bytes. Queries join it back (``AUDIT_ROWS``)."""
    data = event.data()
    if isinstance(event, ev.MessageAdded):
        del data["content"]
    return {"session_id": event.session_id, "version": event.version,
            "notification_id": notification_id, "type": event.type_name,
            "recorded_at": iso(event.recorded_at), "occurred_at": iso(event.occurred_at),
            "prev_hash": prev_hash, "hash": event.hash.hex(), "data": to_json(data)}


def with_content(row: Row, data: dict[str, Any]) -> dict[str, Any]:
    """An ``AUDIT_ROWS`` row's ``data`` (decoded) with its message's content back in place.

    It goes last, after the short fields, so a line cut to the screen's width shows the
    role. Views written before the content was left out still hold it in ``data``: kept."""
    content = row.pop("message_content", None)
    if row["type"] == MESSAGE_ADDED and content is not None and "content" not in data:
        data["content"] = content
    return data


def event_from_audit(row: Row) -> ev.Event:
    """The event an ``AUDIT_ROWS`` row records, for rebuilding a fork's parent state."""
    cls = ev.EVENT_TYPES[row["type"]]
    return cls.model_validate({
        **with_content(row, json.loads(row["data"])), "session_id": row["session_id"],
        "version": row["version"], "recorded_at": row["recorded_at"],
        "occurred_at": row["occurred_at"], "hash": bytes.fromhex(row["hash"]),
    })


def message_row(e: ev.MessageAdded) -> Row:
    return {"session_id": e.session_id, "version": e.version, "seq": e.seq,
            "role": e.role.value, "content": e.content, "tool_calls": to_json(e.tool_calls),
            "tool_name": e.tool_name, "tool_call_id": e.tool_call_id, "agent_id": e.agent_id,
            "model": e.model, "tokens_in": e.tokens_in, "tokens_out": e.tokens_out,
            "metadata": to_json(e.metadata), "recorded_at": iso(e.recorded_at),
            "occurred_at": iso(e.occurred_at)}


def status_row(e: ev.StatusChanged | ev.SessionCompleted | ev.SessionReopened) -> Row:
    match e:
        case ev.StatusChanged():
            to, reason = str(e.to_status), e.reason
        case ev.SessionCompleted():
            to, reason = "completed", e.result
        case ev.SessionReopened():
            to, reason = "active", f"reopened, as fork {e.fork_id} did" if e.fork_id else None
    return {"session_id": e.session_id, "version": e.version, "from_status": str(e.from_status),
            "to_status": to, "reason": reason, "recorded_at": iso(e.recorded_at)}


def lineage_row(e: ev.SessionForked) -> Row:
    return {"session_id": e.session_id, "parent_id": e.parent_id,
            "parent_version": e.parent_version, "checkpoint_id": e.checkpoint_id,
            "reason": e.reason, "recorded_at": iso(e.recorded_at)}


def checkpoint_row(e: ev.CheckpointCreated) -> Row:
    return {"checkpoint_id": e.checkpoint_id, "session_id": e.session_id,
            "version": e.version, "at_version": e.at_version, "label": e.label,
            "recorded_at": iso(e.recorded_at)}


def message_metrics(role: str, tool_calls: list[ev.ToolCall]) -> list[tuple[str, str]]:
    """The (metric, key) counters one message adds to."""
    return [("messages_by_role", role)] + [("tool_calls_by_tool", c.name) for c in tool_calls]
