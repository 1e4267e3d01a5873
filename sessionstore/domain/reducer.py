"""The one reducer: ``apply(state, event) -> state``.

The live aggregate, time travel, checkpoints, forks and projections all build states with
this function, so they cannot disagree. It does no I/O and validates nothing: the aggregate
checks invariants before an event exists, and stored events were checked when written.

For speed it extends ``state`` in place and returns it (appending a message is O(1), so a
state of N events costs O(N)). Callers that must keep an earlier state copy it first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import events as ev
from . import trusted
from .errors import InvalidInput
from .state import AgentInfo, ImportedSource, LineageEntry, Message, SessionState, TaskInfo
from .status import TERMINAL_STATUSES, SessionStatus, TaskStatus


def apply(state: SessionState, event: ev.Event) -> SessionState:
    """Apply one event to ``state`` (in place) and return it."""
    _HANDLERS[type(event)](state, event)
    state.version = event.version
    state.updated_at = event.recorded_at
    return state


def replay(events: Iterable[ev.Event], state: SessionState | None = None) -> SessionState:
    """Fold events into a state, starting from ``state`` or from nothing."""
    for event in events:
        if state is None:
            state = SessionState(session_id=event.session_id)
        apply(state, event)
    if state is None:
        raise ValueError("replay needs at least one event or a starting state")
    return state



def fold(items: Iterable[ev.Event | Message], state: SessionState | None = None) -> SessionState:
    """``replay`` of events in which the messages already come in their state form.

    Storage decodes a stored message straight to the ``Message`` a state holds (see
    ``EventCodec.decode_for_state``), and counters move once per run of messages rather than
    once per message: the result equals ``replay`` of the same events (a property test).
    """
    run: list[Message] = []
    for item in items:
        if isinstance(item, Message):
            run.append(item)
            continue
        if run:
            _add_messages(state, run)
            run = []
        if state is None:
            state = SessionState(session_id=item.session_id)
        apply(state, item)
    if run:
        _add_messages(state, run)
    if state is None:
        raise InvalidInput("a state needs at least one event or a starting state")
    return state


def _add_messages(state: SessionState | None, run: list[Message]) -> None:
    if state is None:
        raise InvalidInput("a session's events start with SessionCreated or SessionForked")
    state.messages.extend(run)
    c = state.counters
    c.messages += len(run)
    calls = sum(len(m.tool_calls) for m in run if m.tool_calls)
    tokens_in = sum(m.tokens_in for m in run if m.tokens_in)
    tokens_out = sum(m.tokens_out for m in run if m.tokens_out)
    if calls:
        c.tool_calls += calls
    if tokens_in:
        c.tokens_in += tokens_in
    if tokens_out:
        c.tokens_out += tokens_out
    state.version = run[-1].version
    state.updated_at = run[-1].recorded_at


def _created(s: SessionState, e: ev.SessionCreated) -> None:
    s.name, s.kind, s.agent_id, s.parent_id = e.name, e.kind, e.agent_id, e.parent_id
    s.label, s.task, s.project_dir, s.max_agents = e.label, e.task, e.project_dir, e.max_agents
    s.metadata = dict(e.metadata)
    s.created_at = e.recorded_at


def _forked(s: SessionState, e: ev.SessionForked) -> None:
    # The fork starts from the parent's state at the fork point and becomes its own session.
    entry = LineageEntry(
        session_id=e.session_id,
        parent_id=e.parent_id,
        parent_version=e.parent_version,
        checkpoint_id=e.checkpoint_id,
    )
    s.lineage.append(entry)
    s.session_id, s.parent_id = e.session_id, e.parent_id
    s.name = e.name if e.name is not None else s.name
    s.label = e.label
    s.created_at = e.recorded_at
    s.imported = None  # the fork is its own session now, not a copy of the parent's source
    if s.status in TERMINAL_STATUSES:
        # Exploring "what if" from a finished session continues it from an open status.
        _reopen(s)


def _reopen(s: SessionState) -> None:
    s.status, s.finished_at, s.result = SessionStatus.ACTIVE, None, None


def message_of(e: ev.MessageAdded) -> Message:
    """The state's ``Message`` for an event that was validated when it was built or decoded:
    built without validating again."""
    return trusted.build(
        Message,
        {
            "seq": e.seq,
            "version": e.version,
            "role": e.role,
            "content": e.content,
            "tool_calls": list(e.tool_calls),
            "tool_name": e.tool_name,
            "tool_call_id": e.tool_call_id,
            "agent_id": e.agent_id,
            "model": e.model,
            "tokens_in": e.tokens_in,
            "tokens_out": e.tokens_out,
            "metadata": dict(e.metadata),
            "recorded_at": e.recorded_at,
            "occurred_at": e.occurred_at,
        },
    )


def extend_messages(state: SessionState, messages: list[Message]) -> SessionState:
    """``apply`` of the ``MessageAdded`` events whose state forms are ``messages`` (the
    plain-message lane builds those forms without events: see ``domain.plain``)."""
    if len(messages) != 1:
        _add_messages(state, messages)
        return state
    (message,) = messages  # one message a commit: the usual append, without the sums
    _append_message(state, message)
    trusted.assign(state, {"version": message.version, "updated_at": message.recorded_at})
    return state


def apply_messages(state: SessionState, events: list[ev.MessageAdded]) -> SessionState:
    """``apply`` of each of ``events`` in turn, with the counters, version and time moved
    once for the run: pydantic's field assignment is most of a small apply. The session's
    batch path uses it; tests/unit/test_add_messages.py holds it equal to one by one."""
    if events:
        _add_messages(state, [message_of(e) for e in events])
    return state


def _message(s: SessionState, e: ev.MessageAdded) -> None:
    _append_message(s, message_of(e))


def _append_message(s: SessionState, m: Message) -> None:
    """One message into the state, with its counters."""
    s.messages.append(m)
    c = s.counters
    # Assigning a pydantic field is slow; most messages have no tool calls or token counts.
    if m.tool_calls:
        c.tool_calls += len(m.tool_calls)
    if m.tokens_in:
        c.tokens_in += m.tokens_in
    if m.tokens_out:
        c.tokens_out += m.tokens_out
    trusted.assign(c, {"messages": c.messages + 1})


def _agent_added(s: SessionState, e: ev.AgentAdded) -> None:
    s.agents[e.agent_id] = AgentInfo(
        agent_id=e.agent_id,
        name=e.name,
        role=e.role,
        metadata=dict(e.metadata),
        added_at=e.recorded_at,
    )


def _agent_removed(s: SessionState, e: ev.AgentRemoved) -> None:
    s.agents.pop(e.agent_id, None)


def _agent_status(s: SessionState, e: ev.AgentStatusChanged) -> None:
    s.agents[e.agent_id].status = e.to_status


def _task_started(s: SessionState, e: ev.TaskStarted) -> None:
    s.tasks[e.task_id] = TaskInfo(
        task_id=e.task_id, agent_id=e.agent_id, description=e.description, started_at=e.recorded_at
    )
    s.counters.tasks_started += 1


def _task_completed(s: SessionState, e: ev.TaskCompleted) -> None:
    task = s.tasks[e.task_id]
    task.status, task.outcome, task.tokens = TaskStatus.COMPLETED, e.outcome, e.tokens
    task.completed_at = e.recorded_at
    s.counters.tasks_completed += 1


def _status(s: SessionState, e: ev.StatusChanged) -> None:
    _move(s, e.to_status, e)


def _completed(s: SessionState, e: ev.SessionCompleted) -> None:
    s.result = e.result
    _move(s, SessionStatus.COMPLETED, e)


def _move(s: SessionState, to: SessionStatus, e: ev.Event) -> None:
    if to == SessionStatus.ERROR:
        s.counters.errors += 1
    if s.status == SessionStatus.RECOVERING and to == SessionStatus.ACTIVE:
        s.counters.restarts += 1
    s.status = to
    if to in TERMINAL_STATUSES:
        s.finished_at = e.recorded_at


def _checkpoint(s: SessionState, e: ev.CheckpointCreated) -> None:
    s.checkpoint_ids.append(e.checkpoint_id)


def _label(s: SessionState, e: ev.LabelChanged) -> None:
    s.label = e.label


def _compacted(s: SessionState, e: ev.ContextCompacted) -> None:
    s.counters.compactions += 1


def _reopened(s: SessionState, e: ev.SessionReopened) -> None:
    _reopen(s)


def _source_imported(s: SessionState, e: ev.SourceImported) -> None:
    s.imported = ImportedSource(
        source=e.source, file=e.file, size=e.size, sha256=e.sha256, version=e.version
    )


_HANDLERS: dict[type[ev.Event], Callable[[SessionState, Any], None]] = {
    ev.SessionCreated: _created,
    ev.SessionForked: _forked,
    ev.MessageAdded: _message,
    ev.AgentAdded: _agent_added,
    ev.AgentRemoved: _agent_removed,
    ev.AgentStatusChanged: _agent_status,
    ev.TaskStarted: _task_started,
    ev.TaskCompleted: _task_completed,
    ev.StatusChanged: _status,
    ev.SessionCompleted: _completed,
    ev.CheckpointCreated: _checkpoint,
    ev.LabelChanged: _label,
    ev.ContextCompacted: _compacted,
    ev.SessionReopened: _reopened,
    ev.SourceImported: _source_imported,
}
assert set(_HANDLERS) == set(ev.EVENT_TYPES.values()), "every event type needs a handler"
