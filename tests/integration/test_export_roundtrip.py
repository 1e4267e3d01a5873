"""Export then import round-trips: the same state and the same hashes, forks with lineage."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore, SessionStoreError
from sessionstore.domain import events as ev
from tests.strategies import commands, metadata, new_id, run_command, tool_calls


def _exported(store: SessionStore, sid: str) -> str:
    out = io.StringIO()
    store.export(sid, out)
    return out.getvalue()


def _reimport(text: str) -> SessionStore:
    target = SessionStore(":memory:")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.jsonl"
        path.write_text(text, encoding="utf-8")
        report = target.import_("jsonl", path)
    assert report.malformed == 0, report.problems
    return target


def _fork(store: SessionStore, parent: str, at: int) -> str:
    return store.fork(parent, at_version=at, reason="what if")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=commands, meta=metadata, calls=tool_calls, fork_at=st.integers(1, 50),
       more=commands)
def test_export_then_import_gives_the_same_state_and_hashes(cmds, meta, calls, fork_at, more):
    with SessionStore(":memory:") as source:
        sid = source.create_session("prop", agent_id="main", metadata=meta)
        for cmd in cmds:
            run_command(source, sid, cmd)
        with contextlib.suppress(SessionStoreError):
            source.add_message(sid, "assistant", "calls",
                               tool_calls=[c.model_dump() for c in calls], metadata=meta,
                               occurred_at=datetime(2024, 5, 1, tzinfo=UTC))
        source.checkpoint(sid, label="before the fork")
        fork = _fork(source, sid, min(fork_at, source.current_version(sid)))
        for cmd in more:
            run_command(source, fork, cmd)
        source.checkpoint(fork, label="on the fork")
        grandchild = _fork(source, fork, source.current_version(fork))
        run_command(source, grandchild, ("label", "third generation"))

        for session in (sid, fork, grandchild):
            text = _exported(source, session)
            with _reimport(text) as target:
                assert target.state(session).model_dump() == source.state(session).model_dump()
                assert [e.hash for e in target.events(session)] == [
                    e.hash for e in source.events(session)]
                assert target.verify().ok
                assert _exported(target, session) == text
                _assert_same_explicit_checkpoints(source, target, session)
                header = json.loads(text.splitlines()[0])
                lineage = [{k: v for k, v in entry.items() if k != "parent_upto"}
                           for entry in header["lineage"]]
                assert lineage == [
                    e.model_dump(mode="json") for e in source.state(session).lineage]


def _assert_same_explicit_checkpoints(source: SessionStore, target: SessionStore,
                                      session: str) -> None:
    """The import re-checkpoints what each ``CheckpointCreated`` names, under its id."""
    def explicit(store: SessionStore) -> list[tuple[str, int, str | None, int]]:
        return [(c.checkpoint_id, c.version, c.label, c.message_count)
                for c in store.checkpoints(session) if not c.automatic]

    assert explicit(target) == explicit(source)
    for checkpoint_id, *_ in explicit(source):
        assert (target.state(session, checkpoint=checkpoint_id).model_dump()
                == source.state(session, checkpoint=checkpoint_id).model_dump())


def test_a_fork_made_through_accept_round_trips():
    """``accept`` of a foreign ``SessionForked`` (what an import does) makes the same fork."""
    with SessionStore(":memory:") as store:
        sid = store.create_session("parent", agent_id="main")
        store.add_message(sid, "user", "one")
        child = new_id()
        store.accept(child, ev.SessionForked(
            session_id=child, version=3, recorded_at=datetime.now(UTC), parent_id=sid,
            parent_version=2))
        store.add_message(child, "user", "two")
        with _reimport(_exported(store, child)) as target:
            assert target.state(child).model_dump() == store.state(child).model_dump()
            assert [m.content for m in target.state(child).messages] == ["one", "two"]


def test_a_fork_is_exported_with_its_lineage(tmp_path):
    with SessionStore(":memory:") as store:
        sid = store.create_session("parent", agent_id="main")
        store.change_status(sid, "active")
        store.add_message(sid, "user", "one")
        store.add_message(sid, "user", "two")
        fork = _fork(store, sid, 3)
        store.add_message(fork, "user", "fork's own")
        lines = [json.loads(line) for line in _exported(store, fork).splitlines()]
    header, events = lines[0], lines[1:]
    assert header["session_id"] == fork
    assert header["lineage"] == [
        {"session_id": fork, "parent_id": sid, "parent_version": 3, "checkpoint_id": None}]
    assert [(e["session_id"], e["version"], e["type"]) for e in events] == [
        (sid, 1, "SessionCreated"), (sid, 2, "StatusChanged"), (sid, 3, "MessageAdded"),
        (fork, 4, "SessionForked"), (fork, 5, "MessageAdded")]
    assert events[3]["prev_hash"] == events[2]["hash"]


def test_a_tampered_export_is_refused_and_nothing_is_written(tmp_path):
    with SessionStore(":memory:") as store:
        sid = store.create_session("s", agent_id="main")
        store.change_status(sid, "active")
        store.add_message(sid, "user", "the real words")
        text = _exported(store, sid)
    path = tmp_path / "tampered.jsonl"
    path.write_text(text.replace("the real words", "other words"), encoding="utf-8")
    with SessionStore(":memory:") as target:
        report = target.import_("jsonl", path)
        assert report.created == [] and report.malformed == 2
        assert "does not match its content" in report.problems[0]
        assert f"{path}:4" in report.problems[0]
        assert f"session {sid} is not imported: its line 4" in report.problems[1]
        assert target.verify().sessions == 0
