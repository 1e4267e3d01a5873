"""The session status machine: every allowed move works, a sample of refused moves fail."""

from __future__ import annotations

from collections import deque

import pytest

from sessionstore.domain.errors import InvalidInput, InvalidTransition
from sessionstore.domain.session import Session
from sessionstore.domain.status import (
    SESSION_TRANSITIONS,
    TERMINAL_STATUSES,
    SessionStatus,
)

ALLOWED = [(a, b) for a, nexts in SESSION_TRANSITIONS.items() for b in sorted(nexts)]
REFUSED = [
    ("created", "completed"),
    ("created", "idle"),
    ("initializing", "idle"),
    ("active", "created"),
    ("active", "recovering"),
    ("idle", "initializing"),
    ("error", "active"),
    ("recovering", "idle"),
    ("terminating", "active"),
    ("completed", "active"),
    ("terminated", "created"),
    ("timeout", "active"),
    ("stopped", "error"),
]


def path_to(target: SessionStatus) -> list[SessionStatus]:
    """The shortest list of moves from ``created`` to ``target``."""
    queue: deque[list[SessionStatus]] = deque([[SessionStatus.CREATED]])
    while queue:
        path = queue.popleft()
        if path[-1] == target:
            return path[1:]
        queue.extend([*path, n] for n in sorted(SESSION_TRANSITIONS[path[-1]]) if n not in path)
    raise AssertionError(f"{target} is unreachable")


def session_in(status: SessionStatus) -> Session:
    session = Session.create("s", name="machine")
    for step in path_to(status):
        session.change_status(step)
    assert session.state.status == status
    return session


@pytest.mark.parametrize(("start", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_transition_moves_the_session(start: str, target: str) -> None:
    session = session_in(SessionStatus(start))
    version = session.state.version
    event = session.change_status(target, reason="test")
    assert session.state.status == target
    assert session.state.version == version + 1
    assert (event.from_status, event.to_status) == (start, target)


@pytest.mark.parametrize(("start", "target"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_refused_transition_raises_and_changes_nothing(start: str, target: str) -> None:
    session = session_in(SessionStatus(start))
    before = session.state.model_copy(deep=True)
    pending = len(session.pending)
    with pytest.raises(InvalidTransition, match=f"from {start} to {target}"):
        session.change_status(target)
    assert session.state == before
    assert len(session.pending) == pending


def test_terminal_statuses_are_exactly_the_four_endings() -> None:
    assert {s.value for s in TERMINAL_STATUSES} == {"completed", "terminated", "timeout", "stopped"}


@pytest.mark.parametrize("start", ["active", "idle"])
def test_complete_records_result_and_finish_time(start: str) -> None:
    session = session_in(SessionStatus(start))
    session.complete(result="done")
    assert session.state.status == "completed"
    assert session.state.result == "done"
    assert session.state.finished_at is not None


def test_complete_from_created_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        Session.create("s", name="x").complete()


def test_unknown_status_name_lists_the_accepted_ones() -> None:
    session = Session.create("s", name="x")
    with pytest.raises(InvalidInput, match="unknown session status 'running': use one of created"):
        session.change_status("running")


def test_restart_is_counted_on_error_recovering_active() -> None:
    session = session_in(SessionStatus.ACTIVE)
    for step in ("error", "recovering", "active"):
        session.change_status(step)
    assert session.state.counters.errors == 1
    assert session.state.counters.restarts == 1
