"""verify() finds any single-byte change, deletion or swap made directly in the database."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore

EVENTS = "stored_events"


def build(path: str, messages: int = 12) -> tuple[str, str]:
    with SessionStore(path, durability="normal") as store:
        sid = store.create_session("tamper", agent_id="main")
        other = store.create_session("bystander")
        store.change_status(sid, "active")
        for i in range(messages):
            store.add_message(sid, "user" if i % 2 else "assistant", f"message {i} " * (i + 1))
            store.add_message(other, "user", f"other {i}")
        store.complete(sid, result="ok")
    return sid, other


def rows(db: sqlite3.Connection, sid: str) -> list[tuple[int, int]]:
    hex_id = sid.replace("-", "")
    return db.execute(
        f"SELECT rowid, originator_version FROM {EVENTS} WHERE originator_id = ? "
        "ORDER BY originator_version",
        (hex_id,),
    ).fetchall()


def flip_byte(db: sqlite3.Connection, rowid: int, column: str, position: int, xor: int) -> None:
    (value,) = db.execute(f"SELECT {column} FROM {EVENTS} WHERE rowid = ?", (rowid,)).fetchone()
    data = bytearray(value if isinstance(value, bytes) else str(value).encode())
    data[position % len(data)] ^= xor
    new: object = bytes(data)
    if column == "topic":
        new = data.decode("latin-1")
    elif column == "originator_version":
        text = data.decode("latin-1")  # "1" xor a bit may be "3", ":" or even "³"
        new = int(text) if text.isascii() and text.isdigit() else -1
    db.execute(f"UPDATE {EVENTS} SET {column} = ? WHERE rowid = ?", (new, rowid))


def check_detected(path: str, sid: str, tamper: Callable[[sqlite3.Connection], None]) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            tamper(db)
    except sqlite3.IntegrityError:
        assume(False)  # the database itself refused this change (a duplicate key)
    finally:
        db.close()
    with SessionStore(path) as store:
        report = store.verify()
        assert not report.ok
        assert report.first_problem(sid) is not None, report.problems
        assert not store.verify(sid).ok


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A built database (path), the tampered session and a bystander session."""
    path = str(tmp_path_factory.mktemp("tamper") / "t.db")
    sid, other = build(path)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    return path, sid, other


def fresh_copy(template: tuple[str, str, str], tmp: str) -> str:
    path = str(Path(tmp) / "copy.db")
    Path(path).write_bytes(Path(template[0]).read_bytes())
    return path


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    index=st.integers(0, 100),
    column=st.sampled_from(["state", "state", "state", "topic", "originator_version"]),
    position=st.integers(0, 10_000),
    xor=st.integers(1, 255),
)
def test_any_single_byte_change_is_detected(
    template: tuple[str, str, str], index: int, column: str, position: int, xor: int
) -> None:
    sid = template[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = fresh_copy(template, tmp)
        target = rows(sqlite3.connect(path), sid)
        rowid = target[index % len(target)][0]
        check_detected(path, sid, lambda db: flip_byte(db, rowid, column, position, xor))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, 100))
def test_any_deletion_is_detected(template: tuple[str, str, str], index: int) -> None:
    sid = template[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = fresh_copy(template, tmp)
        target = rows(sqlite3.connect(path), sid)
        rowid = target[index % len(target)][0]
        check_detected(
            path, sid, lambda db: db.execute(f"DELETE FROM {EVENTS} WHERE rowid = ?", (rowid,))
        )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(i=st.integers(0, 100), j=st.integers(0, 100), what=st.sampled_from(["payload", "version"]))
def test_any_swap_is_detected(template: tuple[str, str, str], i: int, j: int, what: str) -> None:
    sid = template[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = fresh_copy(template, tmp)
        target = rows(sqlite3.connect(path), sid)
        a, b = target[i % len(target)], target[j % len(target)]
        if a == b:
            b = target[(i + 1) % len(target)]

        def swap(db: sqlite3.Connection) -> None:
            if what == "payload":
                (sa, ta), (sb, tb) = (
                    db.execute(
                        f"SELECT state, topic FROM {EVENTS} WHERE rowid=?", (r[0],)
                    ).fetchone()
                    for r in (a, b)
                )
                db.execute(f"UPDATE {EVENTS} SET state=?, topic=? WHERE rowid=?", (sb, tb, a[0]))
                db.execute(f"UPDATE {EVENTS} SET state=?, topic=? WHERE rowid=?", (sa, ta, b[0]))
            else:
                db.execute(f"UPDATE {EVENTS} SET originator_version=-1 WHERE rowid=?", (a[0],))
                db.execute(f"UPDATE {EVENTS} SET originator_version=? WHERE rowid=?", (a[1], b[0]))
                db.execute(f"UPDATE {EVENTS} SET originator_version=? WHERE rowid=?", (b[1], a[0]))

        check_detected(path, sid, swap)


def test_report_names_session_version_and_kind(
    template: tuple[str, str, str], tmp_path: Path
) -> None:
    sid, other = template[1], template[2]
    path = fresh_copy(template, str(tmp_path))
    target = rows(sqlite3.connect(path), sid)
    rowid, version = target[5]
    check_detected(
        path, sid, lambda db: db.execute(f"DELETE FROM {EVENTS} WHERE rowid = ?", (rowid,))
    )
    with SessionStore(path) as store:
        problem = store.verify().first_problem(sid)
        assert problem is not None
        assert (problem.session_id, problem.version, problem.kind) == (sid, version, "missing")
        assert store.verify(other).ok  # the other session is untouched


def test_deleting_the_last_event_is_detected_through_the_head(
    template: tuple[str, str, str], tmp_path: Path
) -> None:
    sid = template[1]
    path = fresh_copy(template, str(tmp_path))
    last_rowid, last_version = rows(sqlite3.connect(path), sid)[-1]
    check_detected(
        path, sid, lambda db: db.execute(f"DELETE FROM {EVENTS} WHERE rowid=?", (last_rowid,))
    )
    with SessionStore(path) as store:
        problem = store.verify(sid).problems[0]
        assert problem.kind == "missing"
        assert problem.version == last_version


def test_a_head_behind_the_log_names_the_event_beyond_it(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    sid, _ = build(path, messages=3)
    with SessionStore(path) as store:
        last = store.current_version(sid)
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE session_heads SET version = version - 1 WHERE originator_id = ?",
                   (sid.replace("-", ""),))
    with SessionStore(path) as store:
        problem = store.verify(sid).problems[0]
    assert (problem.version, problem.kind) == (last, "head")
    assert f"the log ends at {last} but the head says {last - 1}" in problem.detail


def test_an_unreadable_fork_point_is_reported_for_both_sessions(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    with SessionStore(path) as store:
        parent = store.create_session("parent")
        store.change_status(parent, "active")
        store.add_message(parent, "user", "before the fork")
        child = store.fork(parent, at_version=3)
        store.add_message(child, "user", "in the fork")
    db = sqlite3.connect(path)
    with db:
        db.execute(f"UPDATE {EVENTS} SET state = x'' WHERE originator_id = ? AND "
                   "originator_version = 3", (parent.replace("-", ""),))
    with SessionStore(path) as store:
        report = store.verify()
    problems = {p.session_id: p for p in report.problems}
    assert (problems[parent].version, problems[parent].kind) == (3, "unreadable")
    assert (problems[child].version, problems[child].kind) == (4, "unreadable")
    assert "the parent event it links to cannot be read" in problems[child].detail
