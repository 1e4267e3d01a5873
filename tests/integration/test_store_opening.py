"""Opening a store on the wrong thing, and using one after ``close()``: a clear error of
sessionstore's own, and nothing written anywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import BackendError, InvalidInput, SessionStore, StoreClosed
from sessionstore.cli import main


def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    with pytest.raises(BackendError, match="not a database; --db must name a sessionstore"):
        SessionStore(str(notes))
    assert notes.read_text() == "my notes\n"


def test_a_folder_is_refused_with_a_file_name_to_use(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="it is a folder; name a file in it, such as"):
        SessionStore(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["", "   ", None])
def test_an_empty_or_missing_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="is not a store URL: give a file path"):
        SessionStore(url)


def test_damaged_read_models_say_how_to_rebuild_them(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with SessionStore(str(db)) as store:
        sid = store.create_session("chat")
    views = tmp_path / "s.views.db"
    views.write_text("garbage")
    with SessionStore(str(db)) as store:
        with pytest.raises(BackendError, match=r"delete it .* `sessionstore project --rebuild`"):
            store.history(sid)
        assert store.current_version(sid) == 1  # the event log itself still reads
    assert views.read_text() == "garbage"


def test_the_cli_shows_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    result = CliRunner().invoke(main, ["--db", str(notes), "list"])
    assert result.exit_code == 7
    assert "error: cannot open" in result.output and "Traceback" not in result.output


def test_a_closed_store_refuses_writes_and_reads_and_stores_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    store = SessionStore(db)
    sid = store.create_session("chat")
    store.close()
    calls = [
        lambda: store.add_message(sid, "user", "after close"),
        lambda: store.create_session("another"),
        lambda: store.state(sid),
        lambda: list(store.events(sid)),
        lambda: store.history(sid),
        lambda: store.verify(),
    ]
    for call in calls:
        with pytest.raises(StoreClosed, match="this SessionStore is closed: open a new one"):
            call()
    with SessionStore(db) as reopened:
        assert reopened.current_version(sid) == 1
        assert len(reopened.sessions()) == 1


def test_a_search_that_is_not_valid_even_quoted_is_refused_clearly() -> None:
    with SessionStore(":memory:") as store:
        sid = store.create_session("chat")
        store.add_message(sid, "user", 'a "quoted" word')
        with pytest.raises(InvalidInput, match="not a valid full-text query; search for words"):
            store.search('"')
        assert [h["version"] for h in store.search('quoted "word')] == [2]


def test_a_read_only_folder_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores file permissions, so SQLite's refusal is simulated at the connection.
    def refuse(*args: object, **kwargs: object) -> object:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(sqlite3, "connect", refuse)
    with pytest.raises(BackendError, match="check the folder's permissions"):
        SessionStore(str(tmp_path / "s.db"))


def test_another_sqlite_database_is_refused_and_not_changed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with SessionStore(str(db)) as store:
        store.history(store.create_session("chat"))  # makes the read models, s.views.db
    views = tmp_path / "s.views.db"
    with sqlite3.connect(views) as raw:
        before = sorted(raw.execute("SELECT name FROM sqlite_master"))
    with pytest.raises(InvalidInput, match=r"not a sessionstore store .*give it as --views"):
        SessionStore(str(views))
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(InvalidInput, match=r"'.*app\.db' is a SQLite database but not a"):
        SessionStore(str(other))
    with sqlite3.connect(views) as raw:
        assert sorted(raw.execute("SELECT name FROM sqlite_master")) == before
    assert not (tmp_path / "s.views.views.db").exists()


def test_paths_with_uri_characters_and_a_tilde_open_the_file_they_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "run#2?.db"
    with SessionStore(str(odd)) as store:
        store.create_session("odd")
    with SessionStore(str(odd)) as store:
        assert len(store.sessions()) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "run#2?.db", "run#2?.views.db"]
    monkeypatch.setenv("HOME", str(tmp_path))
    with SessionStore("~/home.db") as store:
        store.create_session("home")
    assert (tmp_path / "home.db").is_file()


def test_a_store_file_is_refused_as_read_models_and_left_unchanged(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with SessionStore(db) as store:
        sid = store.create_session("chat")
    with sqlite3.connect(db) as raw:
        before = sorted(raw.execute("SELECT name FROM sqlite_master"))
    with SessionStore(db, views=db) as store, pytest.raises(
        InvalidInput, match="is a store's event log, not a read-model file"
    ):
        store.history(sid)
    with sqlite3.connect(db) as raw:
        assert sorted(raw.execute("SELECT name FROM sqlite_master")) == before


def test_a_closed_store_opens_no_read_models(tmp_path: Path) -> None:
    store = SessionStore(str(tmp_path / "s.db"))
    store.create_session("chat")
    store.close()
    with pytest.raises(StoreClosed):
        store.sessions()
    assert not (tmp_path / "s.views.db").exists()
