"""The write path's shortcuts give exactly what the general code gives: same bytes, same
hashes, same accepted and refused input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.domain import events as ev
from sessionstore.domain.errors import ConcurrencyConflict, InvalidInput
from sessionstore.domain.session import build_event
from sessionstore.storage.codec import EventCodec, _compact, stored_data
from tests.strategies import any_event

codec = EventCodec()
SID = "6f2b6f0e-7b8e-4c0a-9a55-1d3b2c4e5f60"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(event=any_event)
def test_stored_data_equals_the_compacted_dump_key_for_key(event: ev.Event) -> None:
    fast, dumped = stored_data(event), _compact(event.data())
    assert list(fast.items()) == list(dumped.items())
    assert msgpack.packb(fast, use_bin_type=True, datetime=True) == msgpack.packb(
        dumped, use_bin_type=True, datetime=True
    )


short_value = (
    st.none()
    | st.integers()
    | st.text(max_size=5)
    | st.binary(max_size=5)
    | st.sampled_from(["x" * ev.MAX_TEXT_BYTES, "x" * (ev.MAX_TEXT_BYTES + 1), "é", b"\xff"])
)


@settings(max_examples=300, deadline=None)
@given(
    cls=st.sampled_from(sorted(ev.EVENT_TYPES.values(), key=lambda c: c.__name__)),
    values=st.dictionaries(
        st.sampled_from(["name", "label", "reason", "role", "agent_id", "content", "version",
                         "tool_name", "seq", "unknown", "metadata", "task_id"]),
        short_value,
    ),
)
def test_the_plain_text_shortcut_only_skips_what_the_full_check_would_pass(
    cls: type[ev.Event], values: dict[str, Any]
) -> None:
    if ev._plain_texts(values, ev._text_fields(cls)):
        assert ev._checked_texts(values) is values


def _message(**fields: Any) -> ev.MessageAdded:
    base: dict[str, Any] = {"session_id": SID, "version": 2, "recorded_at": NOW, "seq": 1,
                            "role": "user", "content": "hi"}
    return build_event(ev.MessageAdded, **(base | fields))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"tool_name": "t" * (ev.MAX_TEXT_BYTES + 1)}, "tool_name is 65537 bytes"),
        ({"tool_name": "é" * ev.MAX_TEXT_BYTES}, "tool_name is 131072 bytes"),
        ({"model": b"\xff"}, "model is not valid UTF-8"),
        ({"agent_id": "\ud800"}, "agent_id is not valid UTF-8 (unpaired surrogate"),
        ({"unknown": "u" * (ev.MAX_TEXT_BYTES + 1)}, "unknown is 65537 bytes"),
        ({"unknown": "u"}, "Extra inputs are not permitted"),
        ({"seq": "9" * (ev.MAX_TEXT_BYTES + 1)}, "seq is 65537 bytes"),
    ],
)
def test_refused_texts_are_reported_by_the_full_check(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem.replace("(", r"\(")):
        _message(**fields)


def test_bytes_and_other_scripts_are_still_decoded_and_kept() -> None:
    event = _message(model=b"gpt", agent_id="agent-é")
    assert (event.model, event.agent_id) == ("gpt", "agent-é")


def test_recorded_events_get_their_chain_link_in_place(tmp_path: Any) -> None:
    with SessionStore(str(tmp_path / "s.db")) as store:
        sid = store.create_session("s")
        with store.batch():
            store.add_message(sid, "user", "one")
            store.add_message(sid, "assistant", "two")
        written = [r.event for r in store.events(sid)]
        assert [e.prev_hash for e in written[1:]] == [e.hash for e in written[:-1]]
        assert store.verify(sid).ok


def test_a_refused_append_leaves_the_events_unlinked(tmp_path: Any) -> None:
    with SessionStore(str(tmp_path / "s.db")) as store:
        sid = store.create_session("s")
        store.add_message(sid, "user", "first")
        taken = list(store.events(sid))[-1].event
        duplicate = taken.model_copy(update={"prev_hash": b"", "hash": b""})
        with pytest.raises(ConcurrencyConflict):
            store._log.append([duplicate], {sid: b""})
        assert (duplicate.prev_hash, duplicate.hash) == (b"", b"")
