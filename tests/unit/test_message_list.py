"""``MessageList`` reads like the list it stands for, and decodes its older part only when read."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionstore.domain.messages import Message, MessageList
from sessionstore.domain.state import SessionState

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def message(i: int) -> Message:
    return Message(seq=i, version=i + 1, role="user", content=f"m{i}", recorded_at=NOW)


class Loader:
    def __init__(self, messages: list[Message]) -> None:
        self.messages, self.calls = messages, 0

    def __call__(self) -> list[Message]:
        self.calls += 1
        return [m.model_copy() for m in self.messages]


def lazy(total: int, unloaded: int) -> tuple[MessageList, Loader, list[Message]]:
    everything = [message(i) for i in range(total)]
    loader = Loader(everything[:unloaded])
    messages = MessageList.lazy(unloaded, loader)
    messages.extend(everything[unloaded:])
    return messages, loader, everything


indexes = st.integers(-30, 30)
steps = st.none() | st.sampled_from([1, 2, -1])
slices = st.builds(slice, st.none() | indexes, st.none() | indexes, steps)


@given(total=st.integers(0, 20), data=st.data())
def test_reads_equal_the_plain_list(total: int, data: st.DataObject) -> None:
    unloaded = data.draw(st.integers(0, total))
    messages, _, everything = lazy(total, unloaded)
    assert len(messages) == total
    for index in data.draw(st.lists(indexes, max_size=5)):
        if -total <= index < total:
            assert messages[index] == everything[index]
        else:
            with pytest.raises(IndexError):
                messages[index]
    for part in data.draw(st.lists(slices, max_size=5)):
        assert messages[part] == everything[part]
    assert list(messages) == everything
    assert list(reversed(messages)) == everything[::-1]
    assert messages == everything and messages == MessageList(everything)


def test_length_appends_and_the_newest_messages_do_not_decode() -> None:
    messages, loader, everything = lazy(10, 7)
    messages.append(message(10))
    assert len(messages) == 11
    assert messages[-1] == message(10)
    assert messages[7:] == [*everything[7:], message(10)]
    assert messages[-3:] == messages[8:11]
    assert loader.calls == 0 and not messages.loaded
    assert messages[0] == everything[0]  # an older message: decode once, then keep them
    assert list(messages) == [*everything, message(10)]
    assert loader.calls == 1 and messages.loaded


def test_copies_share_nothing_that_changes() -> None:
    messages, loader, _ = lazy(6, 4)
    twin = copy.deepcopy(messages)
    twin.append(message(6))
    twin[0].content = "changed in the copy"
    assert len(messages) == 6
    assert messages[0].content == "m0"
    assert loader.calls == 2  # each decoded its own older messages


def test_a_state_dumps_and_validates_its_messages_as_a_list() -> None:
    messages, loader, everything = lazy(5, 3)
    state = SessionState(session_id="s", version=5)
    state.messages = messages
    copied = state.model_copy(deep=True)
    assert loader.calls == 0
    dumped = state.model_dump(mode="json")
    assert dumped["messages"] == [m.model_dump(mode="json") for m in everything]
    again = SessionState.model_validate_json(state.model_dump_json())
    assert isinstance(again.messages, MessageList)
    assert again == state == copied


def test_a_loader_that_returns_the_wrong_count_is_an_error() -> None:
    messages = MessageList.lazy(3, lambda: [message(0)])
    with pytest.raises(ValueError, match="expected 3 messages, loaded 1"):
        list(messages)


def test_clear_forgets_the_undecoded_part() -> None:
    messages, loader, _ = lazy(4, 2)
    messages.clear()
    assert len(messages) == 0 and list(messages) == []
    assert loader.calls == 0


def test_threads_reading_one_list_decode_it_once() -> None:
    messages, loader, everything = lazy(50, 40)
    start = threading.Barrier(4)
    seen: list[list[Message]] = []

    def read() -> None:
        start.wait()
        seen.append(list(messages))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [everything] * 4
    assert loader.calls == 1 and len(messages) == 50


def test_a_lazy_list_pickles_as_its_messages() -> None:
    import pickle

    messages, _, everything = lazy(5, 3)
    state = SessionState(session_id="s", version=5)
    state.messages = messages
    again = pickle.loads(pickle.dumps(state))
    assert again == state and list(again.messages) == everything
    assert SessionState.model_json_schema()["properties"]["messages"]["type"] == "array"
