"""What real transcripts do that clean samples do not: a byte order mark, half an emoji, a
tool output bigger than the store's limit, another tool's file under a chat's key names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from sessionstore import InvalidInput, SessionStore
from sessionstore.cli import main
from sessionstore.domain.events import MAX_CONTENT_BYTES

FIXTURES = Path(__file__).parent.parent / "fixtures"
TRAJ = FIXTURES / "swe-agent" / "6e44b9__sweagenttestrepo-1c2844.traj"
CHAT = FIXTURES / "openai-chat" / "gpt-4o-airline.json"


def _claude_line(uuid: str, role: str, content: str) -> str:
    return json.dumps({
        "type": role, "uuid": uuid, "parentUuid": None, "sessionId": "s1",
        "timestamp": "2026-01-21T20:53:19.244Z", "isSidechain": False,
        "message": {"role": role, "content": content},
    })


def test_a_byte_order_mark_does_not_hide_a_json_file(tmp_path: Path) -> None:
    for source, fmt in ((TRAJ, "swe-agent"), (CHAT, "openai-chat")):
        marked = tmp_path / f"bom-{source.name}"
        marked.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
        with SessionStore(":memory:") as plain, SessionStore(":memory:") as bom:
            expected = plain.import_(fmt, str(source))
            got = bom.import_(fmt, str(marked))
        assert got.skipped_files == [] and len(got.created) == len(expected.created) > 0
        assert got.events == expected.events


def test_half_an_emoji_becomes_a_replacement_character(tmp_path: Path) -> None:
    path = tmp_path / "cut-emoji.jsonl"
    line = _claude_line("u1", "user", "PLACEHOLDER").replace("PLACEHOLDER", "fix it \\ud83d")
    path.write_text(line + "\n" + _claude_line("u2", "assistant", "done") + "\n")
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", str(path))
        assert report.malformed == 0 and len(report.created) == 1
        messages = store.state(report.created[0]).messages
    assert [m.content for m in messages] == ["fix it \ufffd", "done"]


def test_a_tool_output_over_the_limit_is_kept_cut_with_its_size(tmp_path: Path) -> None:
    huge = "x" * (MAX_CONTENT_BYTES + 1000)
    path = tmp_path / "huge.jsonl"
    path.write_text(_claude_line("u1", "user", "run it") + "\n"
                    + _claude_line("u2", "assistant", huge) + "\n")
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", str(path))
        assert report.malformed == 0
        message = store.state(report.created[0]).messages[1]
    assert len(message.content.encode()) == MAX_CONTENT_BYTES
    assert message.content.endswith(f"[... truncated on import: {len(huge)} bytes in the source]")
    assert message.metadata["truncated_from_bytes"] == len(huge)


def test_openhands_records_are_not_taken_for_chats(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(FIXTURES / "openhands" / "resolver_output.jsonl", folder)
    shutil.copy(CHAT, folder)
    with SessionStore(":memory:") as store:
        report = store.import_("openai-chat", str(folder))
        names = [row["name"] for row in store.sessions(limit=None)]
    assert report.malformed == 0 and names
    assert not any("resolver_output" in name for name in names)
    assert any("resolver_output.jsonl" in f for f in report.skipped_files)


def test_history_shows_when_an_imported_message_was_said(tmp_path: Path) -> None:
    path = tmp_path / "said.jsonl"
    path.write_text(_claude_line("u1", "user", "from january") + "\n")
    db = str(tmp_path / "s.db")
    with SessionStore(db) as store:
        sid = store.import_("claude-code", str(path)).created[0]
    output = CliRunner().invoke(main, ["--db", db, "history", sid]).output
    assert "2026-01-21 20:53:19" in output


SAME_NAME = "is already here, imported from a source of the same name with other content"


def test_another_file_of_the_same_name_is_reported_not_taken_for_the_first(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()
    shutil.copy(TRAJ, first / "task.traj")
    shutil.copy(FIXTURES / "swe-agent" / "pydicom__pydicom-1458.traj", second / "task.traj")
    with SessionStore(":memory:") as store:
        report = store.import_("swe-agent", str(first), str(second))
        again = store.import_("swe-agent", str(first))
    assert len(report.created) == 1 and report.existing == []
    assert len(report.not_imported) == 1 and SAME_NAME in report.not_imported[0]
    assert again.existing == report.created and again.not_imported == []


def test_a_strict_stop_says_which_sessions_the_import_wrote_before_it(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_claude_line("u1", "user", "fine") + "\n")
    # A malformed line with its newline: a last line without one may still be being written.
    (folder / "b.jsonl").write_text(_claude_line("u2", "user", "cut") + "\n" + '{"type": "us\n')
    with SessionStore(":memory:") as store:
        try:
            store.import_("claude-code", str(folder), strict=True)
        except InvalidInput as e:
            stopped = str(e)
        [written] = [row["id"] for row in store.sessions(limit=None)]
    assert "stopped (--strict): nothing of this session was written" in stopped
    assert f"1 earlier session of this import stays written ({written})" in stopped


def test_lone_surrogates_in_json_files_become_replacement_characters(tmp_path: Path) -> None:
    chat = tmp_path / "cut.json"
    chat.write_text('[{"role": "user", "content": "low \\udc00 high \\ud83d end"}]')
    with SessionStore(":memory:") as store:
        report = store.import_("openai-chat", str(chat))
        [message] = store.state(report.created[0]).messages
    assert report.malformed == 0 and message.content == "low \ufffd high \ufffd end"
