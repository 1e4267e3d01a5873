"""The collector is paused while states are built and batches written, and left as found."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from sessionstore import SessionStore
from sessionstore.gcpause import gc_paused


@pytest.fixture
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@gc_paused
def report() -> bool:
    return gc.isenabled()


@gc_paused
def fail() -> None:
    raise RuntimeError("boom")


def test_paused_inside_and_enabled_again_after(collector_restored: None) -> None:
    gc.enable()
    assert report() is False
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off(collector_restored: None) -> None:
    gc.disable()
    assert report() is False
    assert not gc.isenabled()


def test_enabled_again_when_the_function_raises(collector_restored: None) -> None:
    gc.enable()
    with pytest.raises(RuntimeError):
        fail()
    assert gc.isenabled()


def test_add_messages_runs_paused(
    collector_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    gc.enable()
    seen: list[bool] = []
    with SessionStore(":memory:") as store:
        sid = store.create_session("gc", agent_id="main")
        append = store._log.append_messages

        def watched(*args: Any, **kwargs: Any) -> Any:
            seen.append(gc.isenabled())
            return append(*args, **kwargs)

        monkeypatch.setattr(store._log, "append_messages", watched)
        store.add_messages(sid, [{"role": "user", "content": "a"}] * 3)
        store.add_message(sid, "user", "single")
    assert seen == [False, True]  # the batch paused it; a single append does not need to
    assert gc.isenabled()
