"""``export -o FILE``: never over the store's own files, and never a half-written file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import InvalidInput, SessionStore
from sessionstore.cli import main

OWN_FILES = ["s.db", "s.db-wal", "s.db-shm", "s.db-journal", "s.views.db", "s.views.db-wal",
             "s.views.db-shm"]


def _session(db: Path) -> str:
    with SessionStore(str(db)) as store:
        sid = store.create_session("precious", agent_id="main")
        store.change_status(sid, "active")
        store.add_message(sid, "user", "do not lose me")
        store.history(sid)  # the read models exist on disk too
    return sid


def _intact(db: Path, sid: str) -> None:
    with SessionStore(str(db)) as store:
        assert store.verify().ok and store.verify().events == 3
        assert [m.content for m in store.state(sid).messages] == ["do not lose me"]


@pytest.mark.parametrize("name", OWN_FILES)
def test_export_onto_the_stores_own_files_is_refused_and_changes_nothing(tmp_path, name):
    db = tmp_path / "s.db"
    sid = _session(db)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = CliRunner().invoke(main, ["--db", str(db), "export", sid, "-o",
                                       str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    assert "one of this store's own files" in result.output
    assert "choose another output file" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    _intact(db, sid)


def test_links_and_other_spellings_of_the_database_are_refused(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    sid = _session(db)
    (tmp_path / "sub").mkdir()
    (tmp_path / "symlink.db").symlink_to(db)
    os.link(db, tmp_path / "hardlink.db")
    monkeypatch.chdir(tmp_path / "sub")
    with SessionStore(str(db)) as store:
        for target in ("../s.db", tmp_path / "symlink.db", tmp_path / "hardlink.db",
                       f"{tmp_path}/sub/../s.db-wal"):
            with pytest.raises(InvalidInput, match="one of this store's own files"):
                store.export(sid, target)
    _intact(db, sid)


def test_a_failed_export_leaves_the_earlier_file_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    sid = _session(db)
    backup = tmp_path / "backup.jsonl"
    with SessionStore(str(db)) as store:
        store.export(sid, backup)
        backup.chmod(0o640)
        good = backup.read_bytes()
        real_events = store.events

        def failing(*args, **kwargs):
            for n, record in enumerate(real_events(*args, **kwargs)):
                if n == 2:
                    raise OSError("the disk went away")
                yield record

        monkeypatch.setattr(store, "events", failing)
        with pytest.raises(InvalidInput, match=r"cannot write .*the disk went away"):
            store.export(sid, backup)
        assert backup.read_bytes() == good
        assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == [
            "backup.jsonl"]  # no temporary file left behind
        monkeypatch.undo()
        assert store.export(sid, backup) == 3  # replaced whole, with the file's permissions
    assert backup.read_bytes() == good and stat.S_IMODE(backup.stat().st_mode) == 0o640


def test_exporting_into_a_missing_folder_is_a_clear_error(tmp_path):
    db = tmp_path / "s.db"
    sid = _session(db)
    result = CliRunner().invoke(main, ["--db", str(db), "export", sid, "-o",
                                       str(tmp_path / "nope" / "x.jsonl")])
    assert result.exit_code == 2
    assert "folder" in result.output and "does not exist; create it first" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "nope").exists()


def test_what_killed_exports_left_beside_the_target_is_cleared(tmp_path):
    db = tmp_path / "s.db"
    sid = _session(db)
    target = tmp_path / "out.jsonl"
    stale = tmp_path / ".out.jsonl.0badf00d.tmp"  # an export killed an hour ago or more
    fresh = tmp_path / ".out.jsonl.1234abcd.tmp"  # another export, still running
    other = tmp_path / ".other.jsonl.0badf00d.tmp"  # not this target's
    notes = tmp_path / ".out.jsonl.my-notes.tmp"  # not a name an export makes
    for leftover in (stale, fresh, other, notes):
        leftover.write_text("partial")
    hours_ago = os.path.getmtime(stale) - 2 * 3600
    for old in (stale, other, notes):
        os.utime(old, (hours_ago, hours_ago))
    with SessionStore(str(db)) as store:
        store.export(sid, target)
    assert not stale.exists() and fresh.exists() and other.exists() and notes.exists()
    assert target.read_text().count("\n") == 4
