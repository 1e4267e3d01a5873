"""``SessionState``: what a session looks like at one version, built only by the reducer.

``Message`` and ``MessageList`` live in ``messages``; they are re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .messages import Message, MessageList
from .messages import StateModel as _Model
from .status import TERMINAL_STATUSES, AgentStatus, SessionKind, SessionStatus, TaskStatus


class AgentInfo(_Model):
    agent_id: str
    name: str | None = None
    role: str | None = None
    status: AgentStatus = AgentStatus.STARTING
    metadata: dict[str, Any] = Field(default_factory=dict)
    added_at: datetime


class TaskInfo(_Model):
    task_id: str
    agent_id: str | None = None
    description: str | None = None
    status: TaskStatus = TaskStatus.STARTED
    outcome: str | None = None
    tokens: int | None = None
    started_at: datetime
    completed_at: datetime | None = None


class LineageEntry(_Model):
    """One step up the fork tree: this session forked from ``parent_id`` at ``parent_version``."""

    session_id: str
    parent_id: str
    parent_version: int
    checkpoint_id: str | None = None


class Counters(_Model):
    messages: int = 0
    tool_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tasks_started: int = 0
    tasks_completed: int = 0
    errors: int = 0
    restarts: int = 0
    compactions: int = 0


class ImportedSource(_Model):
    """Where the session's last import left its source (the latest ``SourceImported``)."""

    source: str
    file: str
    size: int
    sha256: str
    version: int  # the session's version that the import reached


class SessionState(_Model):
    session_id: str
    version: int = 0
    name: str = ""
    kind: SessionKind = SessionKind.MAIN
    status: SessionStatus = SessionStatus.CREATED
    agent_id: str | None = None
    parent_id: str | None = None
    label: str | None = None
    task: str | None = None
    project_dir: str | None = None
    max_agents: int = 8
    metadata: dict[str, Any] = Field(default_factory=dict)
    result: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    messages: MessageList = Field(default_factory=MessageList)
    agents: dict[str, AgentInfo] = Field(default_factory=dict)
    tasks: dict[str, TaskInfo] = Field(default_factory=dict)
    counters: Counters = Field(default_factory=Counters)
    lineage: list[LineageEntry] = Field(default_factory=list)
    checkpoint_ids: list[str] = Field(default_factory=list)
    imported: ImportedSource | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


__all__ = [
    "AgentInfo", "Counters", "ImportedSource", "LineageEntry", "Message", "MessageList",
    "SessionState", "TaskInfo",
]
