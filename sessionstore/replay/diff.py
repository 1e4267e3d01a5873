"""Branch diff: where two sessions' histories part, and what differs after that.

A session's history is a path of segments from its root: ``[(root, v1), (fork1, v2), ...]``
where each segment is the part of one session's own log that the history runs through (a
state's ``lineage`` names them). Two histories share the longest common run of segments;
the divergence point is the last version they share and the common ancestor the session
whose log holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain.state import AgentInfo, Message, SessionState, TaskInfo


@dataclass(frozen=True)
class BranchDiff:
    a: str
    b: str
    common_ancestor: str | None  # None: the sessions share no history
    divergence_version: int  # both are the same session up to this version (0: none)
    only_in_a: list[Message]
    only_in_b: list[Message]
    status: tuple[str, str] | None
    agents: dict[str, tuple[AgentInfo | None, AgentInfo | None]] = field(default_factory=dict)
    tasks: dict[str, tuple[TaskInfo | None, TaskInfo | None]] = field(default_factory=dict)
    tokens: dict[str, tuple[int, int]] = field(default_factory=dict)
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name, label, result

    @property
    def is_empty(self) -> bool:
        return not (
            self.only_in_a
            or self.only_in_b
            or self.status
            or self.agents
            or self.tasks
            or self.tokens
            or self.fields
        )


def history_path(state: SessionState) -> list[tuple[str, int]]:
    """The segments ``(owner session, last version)`` of ``state``'s history, root first."""
    if not state.lineage:
        return [(state.session_id, state.version)]
    owners = [state.lineage[0].parent_id] + [e.session_id for e in state.lineage]
    ends = [e.parent_version for e in state.lineage] + [state.version]
    return list(zip(owners, ends, strict=True))


def divergence(a: SessionState, b: SessionState) -> tuple[str | None, int]:
    """The common ancestor and the last version both histories share."""
    ancestor: str | None = None
    shared = 0
    for (owner_a, end_a), (owner_b, end_b) in zip(history_path(a), history_path(b), strict=False):
        if owner_a != owner_b:
            break
        ancestor, shared = owner_a, min(end_a, end_b)
        if end_a != end_b:
            break
    return ancestor, shared


RECORDING_TIMES = frozenset({"added_at", "started_at", "completed_at"})
"""When an agent or task event was recorded: a what-if branch records the same events again,
later, so these differ where nothing else does."""


def _changed(
    left: dict[str, Any], right: dict[str, Any]
) -> dict[str, tuple[Any | None, Any | None]]:
    return {
        key: (left.get(key), right.get(key))
        for key in sorted(set(left) | set(right))
        if _compared(left.get(key)) != _compared(right.get(key))
    }


def _compared(info: AgentInfo | TaskInfo | None) -> dict[str, Any] | None:
    return None if info is None else info.model_dump(exclude=set(RECORDING_TIMES))


def diff_states(a: SessionState, b: SessionState) -> BranchDiff:
    ancestor, shared = divergence(a, b)
    tokens = {
        "tokens_in": (a.counters.tokens_in, b.counters.tokens_in),
        "tokens_out": (a.counters.tokens_out, b.counters.tokens_out),
    }
    fields = {
        "name": (a.name, b.name),
        "label": (a.label, b.label),
        "result": (a.result, b.result),
    }
    return BranchDiff(
        a=a.session_id,
        b=b.session_id,
        common_ancestor=ancestor,
        divergence_version=shared,
        only_in_a=[m for m in a.messages if m.version > shared],
        only_in_b=[m for m in b.messages if m.version > shared],
        status=None if a.status == b.status else (a.status.value, b.status.value),
        agents=_changed(a.agents, b.agents),
        tasks=_changed(a.tasks, b.tasks),
        tokens={k: v for k, v in tokens.items() if v[0] != v[1]},
        fields={k: v for k, v in fields.items() if v[0] != v[1]},
    )
