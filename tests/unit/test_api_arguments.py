"""Arguments of the wrong type get an ``InvalidInput`` that names them, not a TypeError or
AttributeError from deep inside, and no value is quietly coerced into another."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionstore import InvalidInput, SessionStore


@pytest.fixture
def store() -> Iterator[SessionStore]:
    with SessionStore(":memory:") as s:
        yield s


def session(store: SessionStore) -> str:
    sid = store.create_session("chat", agent_id="main")
    store.add_message(sid, "user", "hi")
    store.add_message(sid, "assistant", "hello")
    return sid


CASES: list[tuple[str, Callable[[SessionStore, str], Any], str]] = [
    ("version as text", lambda s, sid: s.state(sid, at_version="2"),
     "at_version must be a whole number, not '2'"),
    ("version as float", lambda s, sid: s.state(sid, at_version=2.7),
     "at_version must be a whole number, not 2.7"),
    ("version as bool", lambda s, sid: s.state(sid, at_version=True),
     "at_version must be a whole number, not True"),
    ("time as text", lambda s, sid: s.state(sid, at_time="2026-11-21T18:30:00+00:00"),
     "at_time must be a datetime with a time zone"),
    ("limit as text", lambda s, sid: s.history(sid, limit="5"),
     "limit must be a whole number, not '5'"),
    ("keep as None", lambda s, sid: s.prune_checkpoints(sid, keep=None),
     "keep must be a whole number, not None"),
    ("query as None", lambda s, sid: s.search(None), "query must be a string, not None"),
    ("no attempts", lambda s, sid: s.retry(lambda: 1, attempts=0),
     "attempts must be at least 1 (got 0)"),
    ("messages as None", lambda s, sid: s.add_messages(sid, None),
     "messages must be a list of mappings of add_message's arguments, not NoneType"),
    ("tokens as text", lambda s, sid: s.add_message(sid, "user", "x", tokens_in="12"),
     "tokens_in: Input should be a valid integer"),
    ("tokens as bool", lambda s, sid: s.add_message(sid, "user", "x", tokens_out=True),
     "tokens_out: Input should be a valid integer"),
    ("max_agents as float", lambda s, sid: s.create_session("x", max_agents=4.0),
     "max_agents: Input should be a valid integer"),
    ("empty session id", lambda s, sid: s.create_session("x", session_id=""),
     "'' is not a session id"),
    ("metadata as a list", lambda s, sid: s.create_session("x", metadata=[]),
     "metadata: Input should be a valid dictionary"),
    ("message metadata as text", lambda s, sid: s.add_message(sid, "user", "x", metadata=""),
     "metadata: Input should be a valid dictionary"),
    ("one message, not a list", lambda s, sid: s.add_messages(
        sid, {"role": "user", "content": "hi"}), "not dict"),
]


@pytest.mark.parametrize(("case", "call", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_type_is_refused_by_name(
    store: SessionStore, case: str, call: Callable[[SessionStore, str], Any], message: str
) -> None:
    sid = session(store)
    with pytest.raises(InvalidInput) as raised:
        call(store, sid)
    assert message in str(raised.value)
    assert store.current_version(sid) == 3
    assert len(list(store.sessions())) == 1  # no session made with a random id either


def test_a_uuid_object_is_a_session_id(store: SessionStore) -> None:
    sid = session(store)
    assert store.state(uuid.UUID(sid)).version == 3  # type: ignore[arg-type]
    assert store.add_message(uuid.UUID(sid), "user", "again") == 4  # type: ignore[arg-type]


def test_more_wrong_types_are_refused_by_name(store: SessionStore) -> None:
    sid = session(store)
    calls = {
        "expected_version must be a whole number, not '3'":
            lambda: store.add_message(sid, "user", "x", expected_version="3"),
        "at_version must be a whole number, not '2'": lambda: store.fork(sid, at_version="2"),
        "after must be a whole number, not '1'": lambda: list(store.events(sid, after="1")),
        "checkpoint_every must be a whole number, not 10.0":
            lambda: SessionStore(":memory:", checkpoint_every=10.0),
    }
    for message, call in calls.items():
        with pytest.raises(InvalidInput) as raised:
            call()
        assert message in str(raised.value)
    assert store.current_version(sid) == 3 and len(store.sessions()) == 1


def test_a_uuid_object_exports_like_its_text(store: SessionStore, tmp_path: Path) -> None:
    sid = session(store)
    store.export(uuid.UUID(sid), tmp_path / "a.jsonl")  # type: ignore[arg-type]
    store.export(sid, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
