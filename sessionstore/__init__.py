"""sessionstore: an event-sourced store for AI-agent sessions.

Record every transition of a multi-agent session as an append-only, hash-chained event;
read it back as state, history, an audit trail and metrics; travel to any version; fork.
"""

from .core import EventRecord
from .domain.errors import (
    AgentLimitReached,
    BackendError,
    BatchAborted,
    CheckpointNotFound,
    CheckpointsChanged,
    ConcurrencyConflict,
    CorruptCheckpoint,
    DuplicateAgent,
    DuplicateTask,
    IntegrityError,
    InvalidInput,
    InvalidTransition,
    SessionClosed,
    SessionNotFound,
    SessionStoreError,
    StoreClosed,
    UnknownAgent,
    UnknownTask,
    UnsupportedFormat,
)
from .domain.state import Message, MessageList, SessionState
from .domain.status import AgentStatus, Role, SessionKind, SessionStatus
from .storage.verify import Problem, VerifyReport
from .store import SessionStore

__all__ = [
    "AgentLimitReached",
    "AgentStatus",
    "BackendError",
    "BatchAborted",
    "CheckpointNotFound",
    "CheckpointsChanged",
    "ConcurrencyConflict",
    "CorruptCheckpoint",
    "DuplicateAgent",
    "DuplicateTask",
    "EventRecord",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "Message",
    "MessageList",
    "Problem",
    "Role",
    "SessionClosed",
    "SessionKind",
    "SessionNotFound",
    "SessionState",
    "SessionStatus",
    "SessionStore",
    "SessionStoreError",
    "StoreClosed",
    "UnknownAgent",
    "UnknownTask",
    "UnsupportedFormat",
    "VerifyReport",
]
