"""Every invariant of the Session aggregate and the error that names it."""

from __future__ import annotations

import pytest

from sessionstore.domain.errors import (
    AgentLimitReached,
    DuplicateAgent,
    DuplicateTask,
    InvalidTransition,
    SessionClosed,
    UnknownAgent,
    UnknownTask,
)
from sessionstore.domain.session import Session


def open_session(max_agents: int = 2) -> Session:
    session = Session.create("s", name="inv", agent_id="main", max_agents=max_agents)
    session.change_status("active")
    return session


def closed_session() -> Session:
    session = open_session()
    session.add_agent("a1")
    session.start_task("t1")
    session.complete(result="ok")
    return session


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.add_message("user", "hello"),
        lambda s: s.add_agent("a2"),
        lambda s: s.remove_agent("a1"),
        lambda s: s.change_agent_status("a1", "idle"),
        lambda s: s.start_task("t2"),
        lambda s: s.complete_task("t1"),
    ],
    ids=["message", "add-agent", "remove-agent", "agent-status", "start-task", "complete-task"],
)
def test_terminal_session_refuses_messages_agents_and_tasks(change: object) -> None:
    session = closed_session()
    before = session.state.model_copy(deep=True)
    with pytest.raises(SessionClosed, match="is completed; fork it"):
        change(session)  # type: ignore[operator]
    assert session.state == before


def test_terminal_session_refuses_status_changes() -> None:
    with pytest.raises(InvalidTransition):
        closed_session().change_status("active")


def test_agent_limit() -> None:
    session = open_session(max_agents=2)
    session.add_agent("a1")
    session.add_agent("a2")
    with pytest.raises(AgentLimitReached, match="max_agents=2"):
        session.add_agent("a3")
    session.remove_agent("a1", reason="done")
    session.add_agent("a3")
    assert sorted(session.state.agents) == ["a2", "a3"]


def test_duplicate_agent() -> None:
    session = open_session()
    session.add_agent("a1")
    with pytest.raises(DuplicateAgent, match="'a1' is already in session"):
        session.add_agent("a1")


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.remove_agent("ghost"),
        lambda s: s.change_agent_status("ghost", "busy"),
        lambda s: s.add_message("assistant", "hi", agent_id="ghost"),
        lambda s: s.start_task("t", agent_id="ghost"),
    ],
    ids=["remove", "status", "message", "task"],
)
def test_unknown_agent(change: object) -> None:
    session = open_session()
    with pytest.raises(UnknownAgent, match="no agent 'ghost'"):
        change(session)  # type: ignore[operator]


def test_session_own_agent_may_speak_without_being_added() -> None:
    session = open_session()
    session.add_message("assistant", "hi", agent_id="main")
    assert session.state.messages[-1].agent_id == "main"


def test_duplicate_and_unknown_tasks() -> None:
    session = open_session()
    session.start_task("t1")
    with pytest.raises(DuplicateTask):
        session.start_task("t1")
    with pytest.raises(UnknownTask, match="no task 't9'"):
        session.complete_task("t9")
    session.complete_task("t1", outcome="ok", tokens=5)
    with pytest.raises(DuplicateTask, match="already completed"):
        session.complete_task("t1")
    assert session.state.tasks["t1"].status == "completed"
    assert session.state.counters.tasks_completed == 1


def test_stopped_agent_may_only_start_again() -> None:
    session = open_session()
    session.add_agent("a1")
    session.change_agent_status("a1", "stopped")
    with pytest.raises(InvalidTransition, match="cannot move from stopped to active"):
        session.change_agent_status("a1", "active")
    session.change_agent_status("a1", "starting")
    assert session.state.agents["a1"].status == "starting"


def test_versions_are_contiguous_and_messages_numbered() -> None:
    session = open_session()
    for i in range(5):
        session.add_message("user", f"m{i}")
    assert [e.version for e in session.pending] == list(range(1, 8))
    assert [m.seq for m in session.state.messages] == [1, 2, 3, 4, 5]
