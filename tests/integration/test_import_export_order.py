"""Exports imported in any order: a session the store holds the beginning of is extended with
the export's later events; another history of it is refused, unchanged, with what to do; a
sub-agent's export waits for its parent's, and without it is refused (not malformed)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import ConcurrencyConflict, InvalidInput, SessionNotFound, SessionStore
from sessionstore.cli import main
from sessionstore.importers import ImportAborted

DIFFERENT = "this store holds different events for it (at event {at})"
ANOTHER_STORE = "To keep both, import the file into another store"


def _save(tmp_path: Path, store: SessionStore, sid: str, name: str) -> Path:
    out = io.StringIO()
    store.export(sid, out)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _hashes(store: SessionStore, sid: str) -> list[bytes]:
    return [e.hash for e in store.events(sid)]


def _parent(store: SessionStore, session_id: str | None = None, *texts: str) -> str:
    sid = store.create_session("parent", agent_id="main", session_id=session_id)
    store.change_status(sid, "active")
    for text in texts:
        store.add_message(sid, "user", text)
    return sid


@pytest.fixture
def source() -> Iterator[tuple[SessionStore, str, str]]:
    """The bug report's store: a parent of five events and a fork of it at version 3."""
    with SessionStore(":memory:") as store:
        parent = _parent(store, None, "one", "two", "three")
        yield store, parent, store.fork(parent, at_version=3)


def test_the_parents_export_after_its_forks_adds_its_later_events(tmp_path, source):
    store, parent, fork = source
    fork_file, parent_file = (_save(tmp_path, store, fork, "fork.jsonl"),
                              _save(tmp_path, store, parent, "parent.jsonl"))
    with SessionStore(":memory:") as target:
        assert target.import_("jsonl", fork_file).created == [parent, fork]
        report = target.import_("jsonl", parent_file)
        assert (report.created, report.existing, report.extended) == ([], [], [parent])
        assert report.events == 2 and report.not_imported == [] and report.malformed == 0
        assert _hashes(target, parent) == _hashes(store, parent)
        assert target.state(parent).model_dump() == store.state(parent).model_dump()
        assert target.verify().ok
        later = store.fork(parent, at_version=5)  # failed before: the parent stopped at 3
        assert target.import_("jsonl", _save(tmp_path, store, later, "f5.jsonl")).created == [
            later]
        again = target.import_("jsonl", parent_file)
        assert again.existing == [parent] and again.extended == [] and again.events == 0


def test_exports_imported_newest_first_lose_no_event(tmp_path):
    with SessionStore(":memory:") as store:
        parent = _parent(store, None, "one")
        files = []
        for n in range(4):  # each fork's export holds the parent as it was then
            store.add_message(parent, "user", f"more {n}")
            fork = store.fork(parent, at_version=store.current_version(parent))
            files.append(_save(tmp_path, store, fork, f"fork{n}.jsonl"))
        files.append(_save(tmp_path, store, parent, "parent.jsonl"))
        with SessionStore(":memory:") as target:
            for path in files[::-1]:
                assert target.import_("jsonl", path).not_imported == []
            assert _hashes(target, parent) == _hashes(store, parent)
            assert target.verify().sessions == 5


def test_an_extension_the_store_refuses_appends_nothing(tmp_path, source, monkeypatch):
    store, parent, fork = source
    with SessionStore(":memory:") as target:
        target.import_("jsonl", _save(tmp_path, store, fork, "fork.jsonl"))
        before = _hashes(target, parent)
        real = target.accept

        def refuse_event_5(session_id, event, **kwargs):
            if event.version == 5:
                raise InvalidInput("refused for the test")
            return real(session_id, event, **kwargs)

        monkeypatch.setattr(target, "accept", refuse_event_5)
        report = target.import_("jsonl", _save(tmp_path, store, parent, "parent.jsonl"))
        assert report.extended == [] and report.events == 0
        assert report.problems == [f"{tmp_path / 'parent.jsonl'}:6: refused for the test"]
        assert _hashes(target, parent) == before  # not even event 4
        monkeypatch.undo()
        retry = target.import_("jsonl", tmp_path / "parent.jsonl")
        assert retry.extended == [parent] and retry.events == 2
        assert _hashes(target, parent) == _hashes(store, parent)


def test_a_write_between_the_check_and_the_extension_stops_it_whole(tmp_path, source,
                                                                    monkeypatch):
    store, parent, fork = source
    with SessionStore(":memory:") as target:
        target.import_("jsonl", _save(tmp_path, store, fork, "fork.jsonl"))
        real_batch = target.batch

        @contextmanager
        def another_writer_first() -> Iterator[SessionStore]:
            target.add_message(parent, "user", "meanwhile")
            with real_batch() as batch:
                yield batch

        monkeypatch.setattr(target, "batch", another_writer_first)
        with pytest.raises(ConcurrencyConflict, match="import the file again"):
            target.import_("jsonl", _save(tmp_path, store, parent, "parent.jsonl"))
        assert [m.content for m in target.state(parent).messages] == ["one", "meanwhile"]
        assert target.verify().ok


@pytest.mark.parametrize("held", [("one",), ("one", "two", "other", "four")],
                         ids=["shorter", "longer"])
def test_another_history_of_the_session_is_refused_and_left_as_it_was(tmp_path, source, held):
    store, parent, _fork = source
    path = _save(tmp_path, store, parent, "parent.jsonl")
    with SessionStore(":memory:") as target:
        _parent(target, parent, *held)  # the same id, events that differ from event 1 on
        before = _hashes(target, parent)
        report = target.import_("jsonl", path)
        assert report.created == report.existing == report.extended == []
        assert report.malformed == 0 and report.events == 0
        at = min(len(held) + 2, 5)
        assert report.not_imported == [
            f"{path}: session {parent} is not imported: {DIFFERENT.format(at=at)}, so the two "
            f"hold different histories of it; it was not changed. {ANOTHER_STORE}"]
        assert _hashes(target, parent) == before
        with pytest.raises(ImportAborted, match="different events"):
            target.import_("jsonl", path, strict=True)


def test_a_fork_of_another_history_of_its_parent_is_refused_before_writing(tmp_path, source):
    store, parent, fork = source
    path = _save(tmp_path, store, fork, "fork.jsonl")
    with SessionStore(":memory:") as target:
        _parent(target, parent, "other")  # version 3 is there, with another hash
        report = target.import_("jsonl", path)  # raised IntegrityError after writing the fork
        assert report.created == [] and report.malformed == 0
        assert len(report.not_imported) == 2 and DIFFERENT.format(at=3) in (
            report.not_imported[0])
        assert report.not_imported[1] == (
            f"{path}: session {fork} is not imported: it forks session {parent} at event 3, "
            f"where this store holds different events of {parent}; to keep both histories, "
            "import the file into another store")
        with pytest.raises(SessionNotFound):
            target.state(fork)
        assert target.verify().ok


@pytest.fixture
def family(tmp_path) -> Iterator[tuple[SessionStore, list[str], list[Path]]]:
    """A main session, its sub-agent and the sub-agent's own sub-agent, each exported alone,
    named so that a folder lists the youngest first."""
    with SessionStore(":memory:") as store:
        ids = [store.create_session("main", agent_id="main")]
        for name in ("sub", "subsub"):
            ids.append(store.create_session(name, kind="subagent", parent_id=ids[-1]))
            store.add_message(ids[-1], "user", f"{name} at work")
        files = [_save(tmp_path, store, sid, f"{3 - n}.jsonl") for n, sid in enumerate(ids)]
        yield store, ids, files


def test_a_sub_agent_without_its_parent_says_to_import_the_parent_first(family):
    store, (main_id, sub, _), (main_file, sub_file, _) = family
    with SessionStore(":memory:") as target:
        report = target.import_("jsonl", sub_file)
        assert report.created == [] and report.malformed == 0 and report.problems == []
        assert report.not_imported == [
            f"{sub_file}: session {sub} is not imported: its parent is session {main_id}, "
            f"which is not in this store; import {main_id}'s export first, then this file again"]
        assert target.verify().sessions == 0
        with pytest.raises(ImportAborted, match=f"import {main_id}'s export first"):
            target.import_("jsonl", sub_file, strict=True)
        target.import_("jsonl", main_file)
        assert target.import_("jsonl", sub_file).created == [sub]
        assert _hashes(target, sub) == _hashes(store, sub)


def test_sub_agents_read_before_their_parents_are_written_after_them(tmp_path, family):
    store, ids, _files = family
    with SessionStore(":memory:") as target:
        report = target.import_("jsonl", tmp_path)  # 1.jsonl (subsub), 2.jsonl (sub), 3.jsonl
        assert report.created == ids  # main in its file; then sub, then subsub, waiting
        assert report.not_imported == [] and report.events == 5
        for sid in ids:
            assert _hashes(target, sid) == _hashes(store, sid)


def test_the_command_line_shows_extended_and_not_imported_sessions(tmp_path, source, family):
    store, parent, fork = source
    fork_file, parent_file = (_save(tmp_path, store, fork, "fork.jsonl"),
                              _save(tmp_path, store, parent, "parent.jsonl"))
    _, (main_id, _, _), (_, sub_file, _) = family
    db = str(tmp_path / "s.db")
    CliRunner().invoke(main, ["--db", db, "import", "jsonl", str(fork_file)])
    result = CliRunner().invoke(main, ["--db", db, "import", "jsonl", str(parent_file),
                                       str(sub_file)], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert "imported 0 sessions, 2 events from 2 files" in result.output
    assert "1 session already here, extended with what its source holds since" in (
        result.output)
    assert "1 session not imported:" in result.output and "malformed" not in result.output
    assert f"import {main_id}'s export first, then this file again" in result.output
    result = CliRunner().invoke(main, ["--db", db, "--json", "import", "jsonl",
                                       str(parent_file), str(sub_file)])
    summary = json.loads(result.output)
    assert summary["existing"] == [parent] and summary["extended"] == []
    assert len(summary["not_imported"]) == 1 and summary["malformed"] == 0


def test_a_session_found_in_several_exports_counts_once_as_already_here(tmp_path: Path) -> None:
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with SessionStore(source) as store:
        parent = store.create_session("parent")
        store.change_status(parent, "active")
        forks = [store.fork(parent) for _ in range(3)]
        files = []
        for n, fork in enumerate(forks):
            files.append(str(tmp_path / f"fork{n}.jsonl"))
            store.export(fork, files[-1])
    with SessionStore(target) as store:
        store.import_("jsonl", *files)
        again = store.import_("jsonl", *files)
    assert sorted(again.existing) == sorted([parent, *forks])


@pytest.mark.parametrize("nested", [False, True])
def test_a_fork_made_at_a_checkpoint_brings_that_checkpoint_along(tmp_path, nested):
    with SessionStore(":memory:") as store:
        parent = _parent(store, None, "one", "two")
        if nested:  # the checkpoint is of a fork, and the export is of a fork of that fork
            parent = store.fork(parent, label="middle")
            store.add_message(parent, "user", "three")
        checkpoint = store.checkpoint(parent, label="before the change")
        store.add_message(parent, "user", "later")
        fork = store.fork(parent, checkpoint=checkpoint)
        store.add_message(fork, "user", "on the fork")
        fork_file, parent_file = (_save(tmp_path, store, fork, "fork.jsonl"),
                                  _save(tmp_path, store, parent, "parent.jsonl"))
        with SessionStore(":memory:") as target:
            report = target.import_("jsonl", fork_file)
            assert fork in report.created and report.malformed == 0
            info = target.checkpoint_info(checkpoint)
            assert (info.session_id, info.label) == (parent, "before the change")
            assert target.state(fork, checkpoint=checkpoint) == store.state(
                fork, checkpoint=checkpoint)
            assert target.fork(fork, checkpoint=checkpoint)
            extended = target.import_("jsonl", parent_file)  # the rest of the parent after
            assert extended.extended == [parent] and extended.malformed == 0
            assert _hashes(target, parent) == _hashes(store, parent)
            assert _hashes(target, fork) == _hashes(store, fork) and target.verify().ok


def test_a_checkpoint_fork_imports_where_the_parent_went_on_otherwise(tmp_path):
    with SessionStore(":memory:") as store, SessionStore(":memory:") as target:
        parent = _parent(store, None, "one")
        target.import_("jsonl", _save(tmp_path, store, parent, "parent.jsonl"))
        target.add_message(parent, "user", "the target's own way")
        checkpoint = store.checkpoint(parent)
        fork = store.fork(parent, checkpoint=checkpoint)
        report = target.import_("jsonl", _save(tmp_path, store, fork, "fork.jsonl"),
                                strict=True)
        assert report.created == [fork] and report.not_imported == []
        assert sum(report.skipped.values()) == 1  # the parent's CheckpointCreated
        assert _hashes(target, fork) == _hashes(store, fork) and target.verify().ok
