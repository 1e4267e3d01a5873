"""A corrupted checkpoint (a flipped byte, a truncated blob, an edited row) is detected and
skipped: replay falls back to an earlier checkpoint or to the events, and verify reports it."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionState, SessionStore

EVERY = 5


def build(path: str) -> tuple[str, dict[int, SessionState]]:
    with SessionStore(path, durability="normal", checkpoint_every=EVERY) as store:
        sid = store.create_session("corrupt me", agent_id="main")
        lives = {1: store.state(sid)}
        for i in range(34):
            v = store.add_message(sid, "user", f"message {i} " * (i % 4 + 1), tokens_in=i)
            lives[v] = store.state(sid)
            if i == 17:
                store.checkpoint(sid, label="explicit")
                lives[store.current_version(sid)] = store.state(sid)
    return sid, lives


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[int, SessionState]]:
    path = str(tmp_path_factory.mktemp("corrupt") / "c.db")
    sid, lives = build(path)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    return path, sid, lives


def checkpoint_ids(path: str) -> list[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT checkpoint_id FROM session_checkpoints ORDER BY version")
        return [r[0] for r in rows]


def corrupt(path: str, checkpoint_id: str, how: str, position: int) -> None:
    db = sqlite3.connect(path)
    with db:
        (blob,) = db.execute(
            "SELECT blob FROM session_checkpoints WHERE checkpoint_id = ?", (checkpoint_id,)
        ).fetchone()
        data = bytearray(blob)
        if how == "flip":
            data[position % len(data)] ^= 0x41
            db.execute("UPDATE session_checkpoints SET blob = ? WHERE checkpoint_id = ?",
                       (bytes(data), checkpoint_id))
        elif how == "truncate":
            db.execute("UPDATE session_checkpoints SET blob = ? WHERE checkpoint_id = ?",
                       (bytes(data[: position % len(data)]), checkpoint_id))
        else:  # the metadata lies about the version
            db.execute("UPDATE session_checkpoints SET version = version - 1 "
                       "WHERE checkpoint_id = ?", (checkpoint_id,))
    db.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, 100), how=st.sampled_from(["flip", "truncate", "version"]),
       position=st.integers(0, 10_000))
def test_a_corrupted_checkpoint_is_skipped_and_reported(
    template: tuple[str, str, dict[int, SessionState]], which: int, how: str, position: int
) -> None:
    source, sid, lives = template
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "copy.db")
        Path(path).write_bytes(Path(source).read_bytes())
        ids = checkpoint_ids(path)
        victim = ids[which % len(ids)]
        corrupt(path, victim, how, position)
        with SessionStore(path, checkpoint_every=EVERY) as store:
            for version, live in lives.items():
                assert store.state(sid, at_version=version) == live
            assert store.state(sid) == lives[max(lives)]
            for checkpoint in store.checkpoints(sid):
                assert store.state(sid, checkpoint=checkpoint.checkpoint_id) == lives[
                    store.checkpoint_info(checkpoint.checkpoint_id).version
                ] or checkpoint.checkpoint_id == victim
            report = store.verify()
            problems = [p for p in report.problems if p.kind == "checkpoint"]
            assert problems and problems[0].session_id == sid
            assert victim in problems[0].detail
            assert not store.verify(sid).ok
            # Replay still works after pruning the corrupt one away.
            store.prune_checkpoints(sid, keep=0, explicit=True)
            assert store.verify().ok
            assert store.state(sid, at_version=20) == lives[20]


def test_an_intact_store_verifies_clean(
    template: tuple[str, str, dict[int, SessionState]],
) -> None:
    with SessionStore(template[0]) as store:
        assert store.verify().ok
        assert len(store.checkpoints(template[1])) >= 34 // EVERY


def test_blobs_edited_into_text_still_read_as_their_bytes(
    template: tuple[str, str, dict[int, SessionState]], tmp_path: Path
) -> None:
    source, sid, lives = template
    path = str(tmp_path / "copy.db")
    Path(path).write_bytes(Path(source).read_bytes())
    with sqlite3.connect(path) as db:  # what `blob || ''` in the sqlite3 shell does
        db.execute("UPDATE session_checkpoints SET blob = blob || '', checksum = checksum || ''")
        (kind,) = db.execute("SELECT DISTINCT typeof(blob) FROM session_checkpoints").fetchone()
    assert kind == "text"
    with SessionStore(path, checkpoint_every=EVERY) as store:
        assert store.verify().ok
        for version in (12, 20, max(lives)):
            assert store.state(sid, at_version=version) == lives[version]
        assert store.add_message(sid, "user", "after") == max(lives) + 1
