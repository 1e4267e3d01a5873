"""Hypothesis strategies shared by the tests: events of every type and command sequences."""

from __future__ import annotations

import contextlib
import types
import typing
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from sessionstore.domain.events import EVENT_TYPES, Event, ToolCall

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
# Finite floats only: NaN and infinities are refused on the way in (JSON cannot hold them).
json_leaf = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
metadata = st.dictionaries(text, json_value, max_size=4)
tool_calls = st.lists(
    st.builds(ToolCall, name=text, id=st.none() | text, arguments=json_value), max_size=3
)


def _for_annotation(name: str, annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return st.none() | _for_annotation(name, args[0])
    if name == "metadata":
        return metadata
    if name == "tool_calls":
        return tool_calls
    if name == "sha256":
        return st.binary(min_size=32, max_size=32).map(bytes.hex)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if annotation is int:
        return st.integers(1, 10_000)
    if annotation is datetime:
        return moments
    if annotation is str:
        return text
    raise NotImplementedError(f"no strategy for {name}: {annotation}")


def event_of(cls: type[Event]) -> st.SearchStrategy[Event]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "session_id": st.uuids().map(str),
        "prev_hash": st.just(b""),
        "hash": st.just(b""),
    }
    hints = typing.get_type_hints(cls)
    for name in cls.model_fields:
        if name not in fields:
            fields[name] = _for_annotation(name, hints[name])
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


any_event = st.sampled_from(sorted(EVENT_TYPES.values(), key=lambda c: c.__name__)).flatmap(
    event_of
)

# -- command sequences for a store ------------------------------------------------------------
ROLES = ["system", "user", "assistant", "tool"]
STATUSES = ["initializing", "active", "idle", "error", "recovering", "terminating", "completed"]
AGENTS = ["a1", "a2", "a3"]

command = st.one_of(
    st.tuples(
        st.just("message"),
        st.sampled_from(ROLES),
        text,
        st.none() | st.sampled_from(AGENTS),
        st.none() | st.integers(0, 500),
    ),
    st.tuples(st.just("agent"), st.sampled_from(AGENTS)),
    st.tuples(st.just("remove_agent"), st.sampled_from(AGENTS)),
    st.tuples(
        st.just("agent_status"),
        st.sampled_from(AGENTS),
        st.sampled_from(["starting", "active", "idle", "busy", "error", "stopped"]),
    ),
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("task"), st.sampled_from(["t1", "t2", "t3"])),
    st.tuples(st.just("complete_task"), st.sampled_from(["t1", "t2", "t3"])),
    st.tuples(st.just("label"), st.none() | text),
    st.tuples(st.just("complete"), st.none() | text),
    st.tuples(st.just("source"), st.integers(0, 10**9), st.binary(min_size=32, max_size=32)),
)
commands = st.lists(command, min_size=1, max_size=40)


def run_command(store: Any, sid: str, cmd: tuple[Any, ...]) -> None:
    """Apply one generated command; domain refusals are part of the game and store nothing."""
    from sessionstore import SessionStoreError

    kind, *args = cmd
    calls = {
        "message": lambda: store.add_message(
            sid, args[0], args[1], agent_id=args[2], tokens_in=args[3]
        ),
        "agent": lambda: store.add_agent(sid, args[0], name=args[0].upper()),
        "remove_agent": lambda: store.remove_agent(sid, args[0], reason="gone"),
        "agent_status": lambda: store.change_agent_status(sid, args[0], args[1]),
        "status": lambda: store.change_status(sid, args[0]),
        "task": lambda: store.start_task(sid, args[0], description="work"),
        "complete_task": lambda: store.complete_task(sid, args[0], outcome="ok", tokens=3),
        "label": lambda: store.set_label(sid, args[0]),
        "complete": lambda: store.complete(sid, result=args[0]),
        "source": lambda: store.record_source(
            sid, source="claude-code", file="t.jsonl", size=args[0], sha256=args[1].hex()
        ),
    }
    with contextlib.suppress(SessionStoreError):
        calls[kind]()


def new_id() -> str:
    return str(uuid.uuid4())


__all__ = ["BaseModel", "any_event", "commands", "event_of", "new_id", "run_command"]
