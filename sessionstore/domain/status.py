"""The session and agent status machines.

Sessions move along the edges of ``SESSION_TRANSITIONS``; anything else is an
``InvalidTransition``. Terminal statuses accept no further change of status, messages,
agents or tasks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from .errors import InvalidInput, InvalidTransition


class SessionStatus(StrEnum):
    CREATED = "created"
    INITIALIZING = "initializing"
    ACTIVE = "active"
    IDLE = "idle"
    ERROR = "error"
    RECOVERING = "recovering"
    TERMINATING = "terminating"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    TIMEOUT = "timeout"
    STOPPED = "stopped"


class SessionKind(StrEnum):
    MAIN = "main"
    SUBAGENT = "subagent"
    CRON = "cron"


class AgentStatus(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    IDLE = "idle"
    BUSY = "busy"
    ERROR = "error"
    STOPPED = "stopped"


class TaskStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


S = SessionStatus
_ENDINGS = frozenset({S.COMPLETED, S.TIMEOUT, S.STOPPED, S.ERROR, S.TERMINATING})

SESSION_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    S.CREATED: frozenset({S.INITIALIZING, S.ACTIVE, S.ERROR, S.TERMINATING}),
    S.INITIALIZING: frozenset({S.ACTIVE, S.ERROR, S.TERMINATING}),
    S.ACTIVE: _ENDINGS | {S.IDLE},
    S.IDLE: _ENDINGS | {S.ACTIVE},
    S.ERROR: frozenset({S.RECOVERING, S.TERMINATING, S.STOPPED}),
    S.RECOVERING: frozenset({S.ACTIVE, S.ERROR, S.TERMINATING}),
    S.TERMINATING: frozenset({S.TERMINATED}),
    S.COMPLETED: frozenset(),
    S.TERMINATED: frozenset(),
    S.TIMEOUT: frozenset(),
    S.STOPPED: frozenset(),
}

TERMINAL_STATUSES = frozenset(s for s, nexts in SESSION_TRANSITIONS.items() if not nexts)

RECOVERY_STEPS = (SessionStatus.RECOVERING, SessionStatus.ACTIVE)


def recovery_path(current: SessionStatus, target: SessionStatus) -> list[SessionStatus] | None:
    """The fewest moves from ``current`` to ``target`` that pass only through ``RECOVERY_STEPS``
    (``error`` to ``idle`` is recovering, active, idle), or None when there is no such way.

    For sources that report a status the machine cannot reach in one move: an agent that
    errored and then waits for input has recovered meanwhile."""
    if current == target:
        return []
    paths: dict[SessionStatus, list[SessionStatus]] = {current: []}
    frontier = [current]
    while frontier:
        step = frontier.pop(0)
        for following in sorted(SESSION_TRANSITIONS[step]):
            if following in paths:
                continue
            paths[following] = [*paths[step], following]
            if following == target:
                return paths[following]
            if following in RECOVERY_STEPS:
                frontier.append(following)
    return None


# A stopped agent may only be started again; every other agent status may move anywhere.
AGENT_TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    a: frozenset(AgentStatus) - {a} for a in AgentStatus
} | {AgentStatus.STOPPED: frozenset({AgentStatus.STARTING})}


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], value: str, what: str) -> E:
    """Turn user text into an enum member, or say which values are accepted."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"unknown {what} {value!r}: use one of {allowed}") from None


def check_session_transition(current: SessionStatus, target: SessionStatus) -> None:
    if target not in SESSION_TRANSITIONS[current]:
        allowed = ", ".join(sorted(SESSION_TRANSITIONS[current])) or "nothing (terminal)"
        raise InvalidTransition(
            f"a session cannot move from {current} to {target}; from {current} it may move to "
            f"{allowed}"
        )


def check_agent_transition(agent_id: str, current: AgentStatus, target: AgentStatus) -> None:
    if target not in AGENT_TRANSITIONS[current]:
        allowed = ", ".join(sorted(AGENT_TRANSITIONS[current]))
        raise InvalidTransition(
            f"agent {agent_id!r} cannot move from {current} to {target}; it may move to {allowed}"
        )
