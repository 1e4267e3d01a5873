"""The pure domain: events, the Session aggregate, the status machine, the reducer, errors."""

from .errors import *  # noqa: F403
from .events import EVENT_TYPES, Event, ToolCall
from .reducer import apply, replay
from .session import Session, build_event, utc_now
from .state import AgentInfo, Counters, LineageEntry, Message, SessionState, TaskInfo
from .status import AgentStatus, Role, SessionKind, SessionStatus, TaskStatus

__all__ = [  # noqa: RUF022
    "EVENT_TYPES",
    "Event",
    "ToolCall",
    "apply",
    "replay",
    "Session",
    "build_event",
    "utc_now",
    "AgentInfo",
    "Counters",
    "LineageEntry",
    "Message",
    "SessionState",
    "TaskInfo",
    "AgentStatus",
    "Role",
    "SessionKind",
    "SessionStatus",
    "TaskStatus",
]
