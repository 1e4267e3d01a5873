"""Imports and exports on PostgreSQL: a SQLite export comes back with the same hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionstore import SessionStore
from tests.conformance.backends import fresh_postgres_url

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.postgres
def test_a_sqlite_export_imports_into_postgresql_with_the_same_hashes(tmp_path):
    with SessionStore(str(tmp_path / "s.db"), durability="normal") as sqlite:
        report = sqlite.import_("swe-agent", FIXTURES / "swe-agent")
        exports = []
        for sid in report.created:
            path = tmp_path / f"{sid}.jsonl"
            sqlite.export(sid, path)
            exports.append((sid, path, [e.hash for e in sqlite.events(sid)],
                            sqlite.state(sid).model_dump()))
    with fresh_postgres_url() as url, SessionStore(url, durability="normal") as pg:
        for sid, path, hashes, state in exports:
            assert pg.import_("jsonl", path).created == [sid]
            assert [e.hash for e in pg.events(sid)] == hashes
            assert pg.state(sid).model_dump() == state
            assert pg.import_("jsonl", path).existing == [sid]
        assert pg.verify().ok
        # importing the transcripts themselves finds the sessions the exports made
        assert sorted(pg.import_("swe-agent", FIXTURES / "swe-agent").existing) == sorted(
            report.created)


@pytest.mark.postgres
def test_a_session_moved_to_postgresql_keeps_its_explicit_checkpoints(tmp_path):
    """Moving to PostgreSQL by export and import: ``--checkpoint ID`` still answers."""
    path = tmp_path / "session.jsonl"
    with SessionStore(str(tmp_path / "s.db"), durability="normal") as sqlite:
        sid = sqlite.create_session("moving", agent_id="main")
        for i in range(30):
            sqlite.add_message(sid, "user" if i % 2 else "assistant", f"step {i}")
        cid = sqlite.checkpoint(sid, label="before the move")
        sqlite.add_message(sid, "user", "after the checkpoint")
        sqlite.export(sid, path)
        expected = sqlite.state(sid, checkpoint=cid).model_dump()
    with fresh_postgres_url() as url, SessionStore(url, durability="normal") as pg:
        assert pg.import_("jsonl", path).created == [sid]
        (restored,) = [c for c in pg.checkpoints(sid) if not c.automatic]
        assert (restored.checkpoint_id, restored.version, restored.label) == (
            cid, 31, "before the move")
        assert pg.state(sid, checkpoint=cid).model_dump() == expected
        assert pg.verify().ok
