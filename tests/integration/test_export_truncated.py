"""An export cut short or damaged imports nothing of the session it breaks (so its complete
export imports later); the header says where each session ends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sessionstore import SessionNotFound, SessionStore
from sessionstore.importers import ImportAborted

NOT_WHOLE = "the file looks truncated or damaged: export the session again"


def _export(store: SessionStore, sid: str) -> str:
    out = io.StringIO()
    store.export(sid, out)
    return out.getvalue()


@pytest.fixture
def exported() -> tuple[str, str]:
    with SessionStore(":memory:") as store:
        sid = store.create_session("long", agent_id="main")
        store.change_status(sid, "active")
        for n in range(18):
            store.add_message(sid, "user", f"message {n}")
        store.complete(sid, result="done")
        return sid, _export(store, sid)


def _import(tmp_path: Path, text: str, name: str = "cut.jsonl", store: SessionStore | None = None,
            **options):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    target = store or SessionStore(":memory:")
    return target, target.import_("jsonl", path, **options), path


def test_the_header_says_how_far_the_export_goes(exported):
    sid, text = exported
    header = json.loads(text.splitlines()[0])
    assert header["session_id"] == sid and header["last_version"] == 21
    assert json.loads(text.splitlines()[-1])["version"] == 21


def test_a_file_cut_inside_its_last_line_imports_nothing_then_the_whole_one_does(
        tmp_path, exported):
    sid, text = exported
    store, report, path = _import(tmp_path, text.encode()[:-50].decode())
    assert report.created == [] and report.events == 0
    assert report.problems[0].startswith(f"{path}:22: not a JSON line")
    assert report.problems[1] == (f"{path}: session {sid} is not imported: its line 22 could "
                                  f"not be used; {NOT_WHOLE}")
    with pytest.raises(SessionNotFound):
        store.state(sid)
    _, again, _ = _import(tmp_path, text, "whole.jsonl", store)
    assert again.created == [sid] and again.events == 21 and again.problems == []


def test_a_file_cut_between_lines_imports_nothing(tmp_path, exported):
    sid, text = exported
    lines = text.splitlines(keepends=True)
    store, report, path = _import(tmp_path, "".join(lines[:-1]))
    assert report.created == [] and report.problems == [
        f"{path}: session {sid} is not imported: it stops at event 20 of 21; {NOT_WHOLE}"]
    _, header_only, path = _import(tmp_path, lines[0], "header.jsonl", store)
    assert header_only.problems == [
        f"{path}: session {sid} is not imported: the file ends before its events; {NOT_WHOLE}"]
    assert store.verify().sessions == 0


def test_a_damaged_line_among_the_events_imports_nothing_of_the_session(tmp_path, exported):
    sid, text = exported
    lines = text.splitlines(keepends=True)
    for n, damaged in ((1, "garbage\n"), (5, lines[5][:40] + "\n"), (10, "{}\n")):
        store, report, path = _import(tmp_path, "".join([*lines[:n], damaged, *lines[n + 1:]]))
        assert report.created == [], n
        assert report.problems[-1].startswith(f"{path}: session {sid} is not imported"), n
        assert store.verify().sessions == 0


def test_strict_refuses_a_file_cut_between_lines(tmp_path, exported):
    _sid, text = exported
    with pytest.raises(ImportAborted, match="it stops at event 20 of 21"):
        _import(tmp_path, "".join(text.splitlines(keepends=True)[:-1]), strict=True)


def _root_and_fork(store: SessionStore) -> tuple[str, str]:
    """A root session of three events and a fork of it at its last."""
    root = store.create_session("root", agent_id="main")
    store.change_status(root, "active")
    store.add_message(root, "user", "one")
    return root, store.fork(root, at_version=3)


def test_a_truncated_fork_keeps_its_whole_ancestors_and_imports_once_complete(tmp_path):
    with SessionStore(":memory:") as source:
        root, fork = _root_and_fork(source)
        source.add_message(fork, "user", "two")
        source.add_message(fork, "user", "three")
        text = _export(source, fork)
    lines = text.splitlines(keepends=True)
    store, report, path = _import(tmp_path, "".join(lines[:-1]))
    assert report.created == [root]  # its part ends at the fork point: whole
    assert report.problems == [
        f"{path}: session {fork} is not imported: it stops at event 5 of 6; {NOT_WHOLE}"]
    _, again, _ = _import(tmp_path, text, "whole.jsonl", store)
    assert again.created == [fork] and again.existing == [root]


def test_an_ancestor_cut_short_is_not_imported_either(tmp_path):
    with SessionStore(":memory:") as source:
        root, fork = _root_and_fork(source)
        lines = _export(source, fork).splitlines(keepends=True)
    _, report, _path = _import(tmp_path, "".join([*lines[:3], *lines[4:]]))  # root's event 3
    assert report.created == []
    assert f"session {root} is not imported: it stops at event 2 of 3" in report.problems[0]


def test_an_export_without_last_version_still_imports(tmp_path, exported):
    sid, text = exported
    lines = text.splitlines(keepends=True)
    header = json.loads(lines[0])
    del header["last_version"]
    header["format_version"] = 1
    _, report, _ = _import(tmp_path, json.dumps(header) + "\n" + "".join(lines[1:]))
    assert report.created == [sid] and report.problems == []


def test_an_export_of_a_newer_format_is_refused(tmp_path, exported):
    _sid, text = exported
    lines = text.splitlines(keepends=True)
    header = json.loads(lines[0]) | {"format_version": 99}
    store, report, path = _import(tmp_path, json.dumps(header) + "\n" + "".join(lines[1:]))
    assert report.created == [] and report.problems == [
        f"{path}:1: this export has format 99, newer than this sessionstore reads (3): "
        "upgrade sessionstore"]
    assert store.verify().sessions == 0


def test_a_fork_whose_ancestors_part_is_damaged_says_so(tmp_path):
    with SessionStore(":memory:") as store:
        parent, fork = _root_and_fork(store)
        store.add_message(fork, "user", "own")
        lines = _export(store, fork).splitlines(keepends=True)
    damaged = "".join(lines[:2] + lines[3:])  # the ancestor's second event is gone
    store, report, path = _import(tmp_path, damaged)
    assert report.created == []
    assert report.not_imported == [
        f"{path}: session {fork} is not imported: it forks session {parent}, whose events in "
        "this import are damaged (reported with the malformed records): export the sessions again"
    ]
    assert any(f"session {parent} is not imported" in p for p in report.problems)
