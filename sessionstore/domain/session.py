"""The Session aggregate: checks a command against the current state, then records an event.

An aggregate wraps a ``SessionState``. Each command method checks the invariants, builds the
event (which validates its own fields), applies it with the reducer and keeps it in
``pending`` until storage records it. A refused command raises before any event exists, so
nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from . import events as ev
from . import trusted
from .errors import (
    AgentLimitReached,
    DuplicateAgent,
    DuplicateTask,
    InvalidInput,
    InvalidTransition,
    SessionClosed,
    UnknownAgent,
    UnknownTask,
)
from .reducer import apply, apply_messages
from .state import Counters, SessionState
from .status import (
    AgentStatus,
    SessionStatus,
    TaskStatus,
    check_agent_transition,
    check_session_transition,
    parse_enum,
)

Clock = Callable[[], datetime]
E = TypeVar("E", bound=ev.Event)


def utc_now() -> datetime:
    return datetime.now(UTC)


_MESSAGE_BATCH = TypeAdapter(list[ev.MessageAdded])


def build_event(cls: type[E], **fields: Any) -> E:
    """Construct and validate an event, turning pydantic's error into ``InvalidInput``."""
    return _validated(cls, fields)


def _validated(cls: type[E], fields: dict[str, Any]) -> E:
    if cls is ev.MessageAdded:  # the usual message is built without pydantic's validation
        plain = trusted.plain_message_added(fields)
        if plain is not None:
            return cast(E, plain)
    try:
        return cls.model_validate(fields)
    except ValidationError as e:
        problems = "; ".join(_problem(err["loc"], err["msg"]) for err in e.errors())
        raise InvalidInput(f"invalid {cls.__name__}: {problems}") from None


def _problem(location: tuple[int | str, ...], message: str) -> str:
    """One of pydantic's errors as ``field: message``, without its "Value error, " jargon
    (a check of the whole event has no field)."""
    message = message.removeprefix("Value error, ")
    where = ".".join(str(part) for part in location)
    return f"{where}: {message}" if where else message


class Session:
    """One session's decisions. ``pending`` holds the events not yet stored."""

    def __init__(self, state: SessionState, *, clock: Clock = utc_now) -> None:
        self.state = state
        self.pending: list[ev.Event] = []
        self._clock = clock

    @classmethod
    def create(cls, session_id: str, *, clock: Clock = utc_now, **fields: Any) -> Session:
        _require_text(fields.get("name"), "a session's name")
        session = cls(SessionState(session_id=session_id), clock=clock)
        session._record(ev.SessionCreated, **fields)
        return session

    @classmethod
    def fork(
        cls, parent_state: SessionState, session_id: str, *, clock: Clock = utc_now, **fields: Any
    ) -> Session:
        """A fork starts from the parent's state; its first own event is ``SessionForked``."""
        if fields.get("name") is not None:
            _require_text(fields["name"], "a fork's name")
        session = cls(parent_state, clock=clock)
        session._record(
            ev.SessionForked,
            session_id=session_id,
            parent_id=parent_state.session_id,
            parent_version=parent_state.version,
            **fields,
        )
        return session

    # -- messages -------------------------------------------------------------------------
    def add_message(self, role: str, content: str, **fields: Any) -> ev.MessageAdded:
        self._require_open("add a message")
        self._require_agent_or_none(fields.get("agent_id"))
        seq = self.state.counters.messages + 1
        return self._record(ev.MessageAdded, seq=seq, role=role, content=content, **fields)

    def add_messages(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        stops: Sequence[int] = (),
        at_stop: Callable[[SessionState], None] | None = None,
    ) -> list[ev.MessageAdded]:
        """Append several messages, all or none: a refused one undoes the ones before it.

        Each item holds ``add_message``'s arguments (``role``, ``content`` and the optional
        fields). Messages change only the message list, the counters, the version and
        ``pending``, so those are what a refusal rewinds. ``at_stop(state)`` is called
        with the state after each of ``stops`` items (the store checkpoints there).
        """
        mark = _MessageMark.of(self)
        try:
            events: list[ev.MessageAdded] = []
            start = 0
            for stop in [*stops, len(items)]:
                events += self._add_messages(items[start:stop])
                if at_stop is not None and stop < len(items):
                    at_stop(self.state)
                start = stop
            return events
        except BaseException:
            mark.rewind(self)
            raise

    def _add_messages(self, items: Sequence[Mapping[str, Any]]) -> list[ev.MessageAdded]:
        events = self._checked_messages(items)
        if events is None:  # one would be refused: one by one, add_message says which
            return [self.add_message(**_message_arguments(item)) for item in items]
        apply_messages(self.state, events)
        self.pending.extend(events)
        return events

    def _checked_messages(self, items: Sequence[Mapping[str, Any]]) -> list[ev.MessageAdded] | None:
        """The events of ``items``, validated in one call, or None if any would be refused.

        The same checks as ``add_message``'s, less per message: validating a list is one
        call into pydantic, and the texts are checked in this pass, not in a validator
        per event. Anything refused goes back to ``add_message`` for its exact error.
        """
        state = self.state
        if state.is_terminal:
            return None
        version, seq = state.version, state.counters.messages
        values: list[dict[str, Any]] = []
        try:
            for item in items:
                fields = _message_arguments(item)
                if not self._may_speak(fields.get("agent_id")):
                    return None
                version, seq = version + 1, seq + 1
                data = {"version": version, "recorded_at": self._clock(), "seq": seq, **fields}
                data["session_id"] = state.session_id
                data["content"] = ev.check_text(
                    data["content"], limit=ev.MAX_CONTENT_BYTES, field="content"
                )
                values.append(ev.checked_texts(ev.MessageAdded, data))
            return _MESSAGE_BATCH.validate_python(values, context=ev.TEXTS_CHECKED)
        except (InvalidInput, ValueError):  # pydantic's ValidationError is a ValueError
            return None

    # -- agents ---------------------------------------------------------------------------
    def add_agent(self, agent_id: str, **fields: Any) -> ev.AgentAdded:
        self._require_open("add an agent")
        _require_text(agent_id, "an agent id")
        if agent_id in self.state.agents:
            raise DuplicateAgent(
                f"agent {agent_id!r} is already in session {self.state.session_id}; "
                "use a different agent id, or remove the agent first"
            )
        if len(self.state.agents) >= self.state.max_agents:
            raise AgentLimitReached(
                f"session {self.state.session_id} already has {len(self.state.agents)} agents "
                f"(max_agents={self.state.max_agents}); remove an agent first, or create the "
                "session with a larger max_agents"
            )
        return self._record(ev.AgentAdded, agent_id=agent_id, **fields)

    def remove_agent(
        self, agent_id: str, *, reason: str | None = None, **when: Any
    ) -> ev.AgentRemoved:
        self._require_open("remove an agent")
        self._require_agent(agent_id)
        return self._record(ev.AgentRemoved, agent_id=agent_id, reason=reason, **when)

    def change_agent_status(self, agent_id: str, status: str, **when: Any) -> ev.AgentStatusChanged:
        self._require_open("change an agent's status")
        agent = self._require_agent(agent_id)
        target = parse_enum(AgentStatus, status, "agent status")
        check_agent_transition(agent_id, agent.status, target)
        return self._record(
            ev.AgentStatusChanged,
            agent_id=agent_id,
            from_status=agent.status,
            to_status=target,
            **when,
        )

    # -- tasks ----------------------------------------------------------------------------
    def start_task(self, task_id: str, **fields: Any) -> ev.TaskStarted:
        self._require_open("start a task")
        _require_text(task_id, "a task id")
        self._require_agent_or_none(fields.get("agent_id"))
        if task_id in self.state.tasks:
            raise DuplicateTask(
                f"task {task_id!r} was already started in session {self.state.session_id}; "
                "use a new task id"
            )
        return self._record(ev.TaskStarted, task_id=task_id, **fields)

    def complete_task(self, task_id: str, **fields: Any) -> ev.TaskCompleted:
        self._require_open("complete a task")
        task = self.state.tasks.get(task_id)
        if task is None:
            raise UnknownTask(
                f"no task {task_id!r} in session {self.state.session_id}; start it first"
            )
        if task.status == TaskStatus.COMPLETED:
            raise DuplicateTask(f"task {task_id!r} is already completed")
        return self._record(ev.TaskCompleted, task_id=task_id, **fields)

    # -- status ---------------------------------------------------------------------------
    def reopen(self, *, fork_id: str | None = None, **when: Any) -> ev.SessionReopened:
        """Go on from ``active`` after a finish, as a fork of a finished session does (a
        what-if branch replaying a history that went on through such a fork)."""
        if not self.state.is_terminal:
            raise InvalidTransition(
                f"session {self.state.session_id} is {self.state.status}, not finished: "
                "only a finished session is reopened"
            )
        return self._record(
            ev.SessionReopened, from_status=self.state.status, fork_id=fork_id, **when
        )

    def change_status(
        self, status: str, *, reason: str | None = None, **when: Any
    ) -> ev.StatusChanged:
        target = parse_enum(SessionStatus, status, "session status")
        check_session_transition(self.state.status, target)
        return self._record(
            ev.StatusChanged,
            from_status=self.state.status,
            to_status=target,
            reason=reason,
            **when,
        )

    def complete(self, *, result: str | None = None, **when: Any) -> ev.SessionCompleted:
        check_session_transition(self.state.status, SessionStatus.COMPLETED)
        return self._record(
            ev.SessionCompleted, from_status=self.state.status, result=result, **when
        )

    def set_label(self, label: str | None, **when: Any) -> ev.LabelChanged:
        return self._record(ev.LabelChanged, label=label, **when)

    def record_checkpoint(
        self, checkpoint_id: str, *, label: str | None, at_version: int, **when: Any
    ) -> ev.CheckpointCreated:
        # The event follows the version it saves: that is the state an import checkpoints.
        if at_version != self.state.version:
            raise InvalidInput(
                f"checkpoint {checkpoint_id} saves version {at_version}, but session "
                f"{self.state.session_id} is at version {self.state.version}: a "
                "CheckpointCreated comes right after the version it saves"
            )
        return self._record(
            ev.CheckpointCreated,
            checkpoint_id=checkpoint_id,
            label=label,
            at_version=at_version,
            **when,
        )

    def compact(self, **fields: Any) -> ev.ContextCompacted:
        self._require_open("record a compaction")
        return self._record(ev.ContextCompacted, **fields)

    def record_source(self, **fields: Any) -> ev.SourceImported:
        """Note how far an importer read the session's source (see ``SourceImported``)."""
        return self._record(ev.SourceImported, **fields)

    # -- events from elsewhere --------------------------------------------------------------
    def accept(self, event: ev.Event) -> ev.Event:
        """Re-decide an event made elsewhere (an import, a what-if edit) against this state.

        The same checks as the matching command run, so an event that this session could
        not have produced is refused. The event keeps its times; its version and message
        seq are renumbered to follow this session.
        """
        data = event.data()
        saved_clock = self._clock
        self._clock = lambda: event.recorded_at
        try:
            return self._accept(event, data, event.occurred_at)
        finally:
            self._clock = saved_clock

    def _accept(self, event: ev.Event, data: dict[str, Any], occurred_at: Any) -> ev.Event:
        when = {"occurred_at": occurred_at}
        match event:
            case ev.SessionCreated() if self.state.version == 0:
                return self._record(ev.SessionCreated, **data, **when)
            case ev.MessageAdded():
                data.pop("seq")
                return self.add_message(data.pop("role"), data.pop("content"), **data, **when)
            case ev.AgentAdded():
                return self.add_agent(data.pop("agent_id"), **data, **when)
            case ev.AgentRemoved():
                return self.remove_agent(event.agent_id, reason=event.reason, **when)
            case ev.AgentStatusChanged():
                return self.change_agent_status(event.agent_id, event.to_status, **when)
            case ev.TaskStarted():
                return self.start_task(data.pop("task_id"), **data, **when)
            case ev.TaskCompleted():
                return self.complete_task(data.pop("task_id"), **data, **when)
            case ev.StatusChanged():
                return self.change_status(event.to_status, reason=event.reason, **when)
            case ev.SessionCompleted():
                return self.complete(result=event.result, **when)
            case ev.LabelChanged():
                return self._record(ev.LabelChanged, label=event.label, **when)
            case ev.CheckpointCreated():
                return self.record_checkpoint(data.pop("checkpoint_id"), **data, **when)
            case ev.ContextCompacted():
                return self.compact(**data, **when)
            case ev.SourceImported():
                return self.record_source(**data, **when)
            case ev.SessionReopened():
                return self.reopen(fork_id=event.fork_id, **when)
        raise InvalidInput(
            f"a {event.type_name} event cannot be added to an existing session at version "
            f"{self.state.version}"
        )

    # -- the machinery ----------------------------------------------------------------------
    def _record(self, cls: type[E], **fields: Any) -> E:
        state = self.state
        # One dict for validation, in the order the fields always had: the text checks
        # report the first bad field in this order.
        values = {"version": state.version + 1, "recorded_at": self._clock(), **fields}
        values.setdefault("session_id", state.session_id)
        event = _validated(cls, values)
        apply(state, event)
        self.pending.append(event)
        return event

    def _require_open(self, doing: str) -> None:
        if self.state.is_terminal:
            raise SessionClosed(
                f"cannot {doing}: session {self.state.session_id} is {self.state.status}; "
                "fork it to continue from an earlier point"
            )

    def _require_agent(self, agent_id: str) -> Any:
        agent = self.state.agents.get(agent_id)
        if agent is None:
            known = ", ".join(sorted(self.state.agents)) or "none"
            raise UnknownAgent(
                f"no agent {agent_id!r} in session {self.state.session_id} (agents: {known}); "
                "add it first (add_agent, or `sessionstore agent add`)"
            )
        return agent

    def _require_agent_or_none(self, agent_id: str | None) -> None:
        if agent_id is not None and not self._may_speak(agent_id):
            self._require_agent(agent_id)  # raises UnknownAgent, naming the known ones

    def _may_speak(self, agent_id: Any) -> bool:
        # The session's own agent (from SessionCreated) may speak without being added.
        state = self.state
        return agent_id is None or agent_id == state.agent_id or agent_id in state.agents


MESSAGE_ARGUMENTS = frozenset(
    {"role", "content", "tool_calls", "tool_name", "tool_call_id", "agent_id", "model",
     "tokens_in", "tokens_out", "metadata", "occurred_at"}
)


def _message_arguments(item: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"a message must be a mapping of add_message's arguments, not {item!r}")
    unknown = item.keys() - MESSAGE_ARGUMENTS
    if unknown or "role" not in item or "content" not in item:
        raise InvalidInput(
            f"a message needs role and content, and may have {sorted(MESSAGE_ARGUMENTS)}; "
            f"got {sorted(item)}"
        )
    # As in SessionStore.add_message: None means "none" for the list and the mapping.
    if item.get("tool_calls", ()) is None or item.get("metadata", ()) is None:
        return {k: v for k, v in item.items() if v is not None or k not in _EMPTY_WHEN_NONE}
    return dict(item)


_EMPTY_WHEN_NONE = frozenset({"tool_calls", "metadata"})


@dataclass(frozen=True)
class _MessageMark:
    """What adding messages changes in a session, as it was: enough to take them back."""

    pending: int
    messages: int
    counters: Counters
    version: int
    updated_at: datetime | None

    @classmethod
    def of(cls, session: Session) -> _MessageMark:
        state = session.state
        return cls(
            len(session.pending), len(state.messages), state.counters.model_copy(),
            state.version, state.updated_at,
        )

    def rewind(self, session: Session) -> None:
        state = session.state
        del session.pending[self.pending :]
        state.messages.truncate(self.messages)
        state.counters = self.counters
        state.version, state.updated_at = self.version, self.updated_at


def _require_text(value: Any, what: str) -> None:
    """Refuse a blank name or id: nothing could find or show it."""
    if isinstance(value, str) and not value.strip():
        raise InvalidInput(f"{what} must not be empty or only spaces; give one")
