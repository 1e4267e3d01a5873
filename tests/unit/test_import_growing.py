"""Claude Code transcripts grow while their agent works: a later import appends the new lines.

Each import ends with ``SourceImported`` (bytes read, their SHA-256). A re-import checks that
the file still starts with those bytes and reads on from there, so importing a transcript in
several steps gives the same conversation as importing it once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.domain.state import SessionState
from sessionstore.importers.core import ImportAborted, session_uuid
from sessionstore.importers.reading import UNFINISHED

SHARE = Path(__file__).parent.parent / "fixtures" / "claude-code" / "session-share"
MAIN = SHARE / "0ccf1a04-1b4c-43b6-8aa5-79e41db43a68.jsonl"
MAIN_LINES = MAIN.read_bytes().splitlines(keepends=True)


def _line(uuid: str, role: str, content: Any, **extra: Any) -> str:
    return json.dumps({
        "type": role, "uuid": uuid, "sessionId": "s1", "timestamp": "2026-01-21T20:53:19Z",
        "message": {"role": role, "content": content, **extra},
    }) + "\n"


def _first_import(store: SessionStore, path: Path) -> str:
    """A transcript of one line, imported: the session's id."""
    path.write_text(_line("u1", "user", "first"))
    (sid,) = store.import_("claude-code", path).created
    return sid


def _import_while(store: SessionStore, path: Path, meanwhile: Any) -> tuple[Any, Any]:
    """``store``'s import of ``path``, with ``meanwhile()`` run as it starts reading the
    file (another store's import, racing it): both results."""
    done: list[Any] = []

    def progress(nbytes: int) -> None:
        if not done:
            done.append(meanwhile())

    return store.import_("claude-code", path, progress=progress), done[0]


def _conversation(state: SessionState) -> dict[str, Any]:
    """What a transcript's import decides: everything but versions and import times."""
    return {
        "messages": [m.model_dump(exclude={"version", "recorded_at"}) for m in state.messages],
        "counters": state.counters.model_dump(),
        "agents": sorted(state.agents),
        "status": state.status,
    }


def _sid(path: Path) -> str:
    return session_uuid("claude-code", path.stem)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, len(MAIN_LINES) - 1), min_size=1, max_size=3, unique=True))
@example(cuts=[len(MAIN_LINES) - 1])  # the last step brings a skipped line only
def test_importing_a_transcript_as_it_grows_equals_importing_it_once(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("growing")
    path, whole_file = folder / MAIN.name, folder / "whole" / MAIN.name
    whole_file.parent.mkdir()
    shutil.copy(MAIN, whole_file)  # without its sidechains, like the growing one
    path.write_bytes(b"")
    with SessionStore(":memory:") as once, SessionStore(":memory:") as stepwise:
        once.import_("claude-code", whole_file)
        written = 0
        for end in [*sorted(cuts), len(MAIN_LINES)]:
            with path.open("ab") as f:
                f.write(b"".join(MAIN_LINES[written:end]))
            written = end
            report = stepwise.import_("claude-code", path)
            assert report.malformed == 0 and report.not_imported == []
        assert stepwise.import_("claude-code", path).events == 0  # nothing left to add
        whole, steps = once.state(_sid(whole_file)), stepwise.state(_sid(path))
    assert _conversation(steps) == _conversation(whole)
    # The mark ends at a line's end, after the last line that wrote anything (skipped
    # lines alone move no mark), and holds that prefix's hash.
    assert steps.imported is not None
    size = steps.imported.size
    assert size in {len(b"".join(MAIN_LINES[:n])) for n in range(len(MAIN_LINES) + 1)}
    assert steps.imported.sha256 == hashlib.sha256(MAIN.read_bytes()[:size]).hexdigest()


SPOTTER = SHARE.parent / "spotter" / "4d5611e5-241a-462a-8d15-5122611a9569.jsonl"


def test_a_transcript_cut_around_its_compaction_imports_as_if_whole(tmp_path: Path) -> None:
    lines = SPOTTER.read_bytes().splitlines(keepends=True)
    [boundary] = [n for n, line in enumerate(lines) if b'"compact_boundary"' in line]
    whole_file = tmp_path / "whole" / SPOTTER.name
    whole_file.parent.mkdir()
    shutil.copy(SPOTTER, whole_file)
    with SessionStore(":memory:") as once:
        once.import_("claude-code", whole_file)
        whole = _conversation(once.state(_sid(SPOTTER)))
    for cut in (boundary, boundary + 1, boundary + 2):  # before, just after, after the summary
        path = tmp_path / str(cut) / SPOTTER.name
        path.parent.mkdir()
        path.write_bytes(b"".join(lines[:cut]))
        with SessionStore(":memory:") as stepwise:
            stepwise.import_("claude-code", path)
            path.write_bytes(b"".join(lines))
            assert stepwise.import_("claude-code", path).extended == [_sid(SPOTTER)]
            assert _conversation(stepwise.state(_sid(SPOTTER))) == whole, f"cut at {cut}"


def test_the_new_lines_are_appended_and_the_import_says_so(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        before = store.current_version(sid)
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second") + _line("u3", "user", "third"))
        report = store.import_("claude-code", path)
        assert report.extended == [sid] and report.created == report.existing == []
        assert report.events == store.current_version(sid) - before == 3  # 2 messages, 1 mark
        assert [m.content for m in store.state(sid).messages] == ["first", "second", "third"]
        assert store.import_("claude-code", path).existing == [sid]  # and then nothing new


def test_a_last_line_still_being_written_waits_for_the_next_import(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    done, cut = _line("u1", "user", "first"), _line("u2", "assistant", "second")
    path.write_text(done + cut[:20])
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", path, strict=True)
        (sid,) = report.created
        assert report.malformed == 0 and report.skipped[UNFINISHED] == 1
        imported = store.state(sid).imported
        assert imported is not None and imported.size == len(done.encode())
        path.write_text(done + cut)
        again = store.import_("claude-code", path, strict=True)
        assert again.extended == [sid] and again.malformed == 0
        assert [m.content for m in store.state(sid).messages] == ["first", "second"]


def test_a_rewritten_file_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        version = store.current_version(sid)
        path.write_text(_line("u1", "user", "FIRST") + _line("u2", "user", "more"))
        report = store.import_("claude-code", path)
        assert report.extended == [] and len(report.not_imported) == 1
        assert "does not start with" in report.not_imported[0]
        assert "import it into another store" in report.not_imported[0]
        assert store.current_version(sid) == version
        with pytest.raises(ImportAborted, match="does not start with"):
            store.import_("claude-code", path, strict=True)


@pytest.mark.parametrize(("by_hand", "changed"), [
    (lambda store, sid: store.add_message(sid, "user", "by hand"), "MessageAdded at version 6"),
    (lambda store, sid: store.change_status(sid, "error"), "StatusChanged at version 6"),
    (lambda store, sid: store.add_agent(sid, "helper"), "AgentAdded at version 6"),
])
def test_a_session_changed_by_hand_since_its_import_is_not_extended(
    tmp_path: Path, by_hand: Any, changed: str
) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        by_hand(store, sid)
        before = store.state(sid)
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second"))
        report = store.import_("claude-code", path)
        assert report.extended == [] and f"changed since by hand ({changed})" in (
            report.not_imported[0])
        assert store.state(sid) == before


def test_a_label_or_checkpoint_since_the_import_does_not_stop_the_next_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        store.set_label(sid, "reviewed")
        store.checkpoint(sid, label="before more")
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second"))
        assert store.import_("claude-code", path).extended == [sid]
        assert [m.content for m in store.state(sid).messages] == ["first", "second"]


def test_a_half_written_line_alone_is_no_extension(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        version = store.current_version(sid)
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second")[:15])
        for _ in range(2):
            report = store.import_("claude-code", path)
            assert report.existing == [sid] and report.extended == [] and report.events == 0
        assert store.current_version(sid) == version


def test_a_compaction_split_from_its_summary_keeps_the_summary(tmp_path: Path) -> None:
    boundary = json.dumps({"type": "system", "subtype": "compact_boundary", "uuid": "b",
                           "compactMetadata": {"trigger": "auto", "preTokens": 900}}) + "\n"
    summary = json.dumps({"type": "user", "uuid": "u2", "isCompactSummary": True,
                          "message": {"role": "user", "content": "what happened so far"}}) + "\n"
    path = tmp_path / "live.jsonl"
    path.write_text(_line("u1", "user", "first") + boundary)
    with SessionStore(":memory:") as store:
        (sid,) = store.import_("claude-code", path).created
        assert store.state(sid).counters.compactions == 0  # it waits for its summary
        with path.open("a") as f:
            f.write(summary)
        store.import_("claude-code", path)
        [compaction] = [e for e in store.events(sid) if e.type == "ContextCompacted"]
    assert compaction.data["summary"] == "what happened so far"
    assert compaction.data["tokens_before"] == 900


def test_two_imports_extending_at_once_add_the_new_lines_once(tmp_path: Path) -> None:
    path, db = tmp_path / "live.jsonl", str(tmp_path / "s.db")
    path.write_text(_line("u1", "user", "first"))
    with SessionStore(db) as first, SessionStore(db) as second:
        (sid,) = first.import_("claude-code", path).created
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second"))
        report, racing = _import_while(first, path, lambda: second.import_("claude-code", path))
        assert racing.extended == [sid] and report.existing == [sid]
        assert [m.content for m in first.state(sid).messages] == ["first", "second"]


def test_a_new_sidechain_of_an_unchanged_main_joins_its_agents(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SHARE, project)
    main = project / MAIN.name
    (first_sub, *later) = sorted((project / MAIN.stem / "subagents").glob("*.jsonl"))
    for sub in later:
        sub.rename(tmp_path / sub.name)
    with SessionStore(":memory:") as store:
        store.import_("claude-code", project)
        for sub in later:
            (tmp_path / sub.name).rename(sub)
        report = store.import_("claude-code", project)
        assert report.extended == [_sid(main)] and len(report.created) == len(later)
        agents = set(store.state(_sid(main)).agents)
    assert agents == {s.stem.removeprefix("agent-") for s in [first_sub, *later]}


def test_a_strict_stop_in_the_new_lines_writes_none_of_them(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        version = store.current_version(sid)
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second") + "not json\n")
        with pytest.raises(ImportAborted, match=r"live\.jsonl:3"):
            store.import_("claude-code", path, strict=True)
        assert store.current_version(sid) == version
        report = store.import_("claude-code", path)  # without --strict: reported, rest kept
        assert report.extended == [sid] and report.malformed == 1


def test_a_tool_result_in_the_new_lines_finds_its_call_and_usage_counts_once(
    tmp_path: Path,
) -> None:
    usage = {"input_tokens": 10, "output_tokens": 5}
    call = {"type": "tool_use", "id": "c1", "name": "Bash", "input": {"command": "ls"}}
    text = {"type": "text", "text": "running ls"}
    path = tmp_path / "live.jsonl"
    path.write_text(_line("u1", "assistant", [text], id="m1", usage=usage))
    with SessionStore(":memory:") as store:
        (sid,) = store.import_("claude-code", path).created
        with path.open("a") as f:  # the same response's next block, then the tool's result
            f.write(_line("u2", "assistant", [call], id="m1", usage=usage))
            f.write(_line("u3", "user", [{"type": "tool_result", "tool_use_id": "c1",
                                          "content": "a.txt"}]))
        store.import_("claude-code", path)
        state = store.state(sid)
    assert state.messages[-1].tool_name == "Bash"
    assert (state.counters.tokens_in, state.counters.tokens_out) == (10, 5)


def test_a_new_sidechain_of_a_grown_session_is_added_and_linked(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    main = project / MAIN.name
    main.write_bytes(b"".join(MAIN_LINES[:10]))
    with SessionStore(":memory:") as store:
        store.import_("claude-code", project)
        assert set(store.state(_sid(main)).agents) == set()
        shutil.copy(MAIN, main)
        shutil.copytree(SHARE / MAIN.stem, project / MAIN.stem)
        report = store.import_("claude-code", project)
        subagents = sorted((project / MAIN.stem / "subagents").glob("*.jsonl"))
        assert report.extended == [_sid(main)] and len(report.created) == len(subagents)
        state = store.state(_sid(main))
        assert set(state.agents) == {s.stem.removeprefix("agent-") for s in subagents}
        for sub in subagents:
            child = store.state(session_uuid("claude-code", f"{main.stem}/{sub.stem}"))
            assert child.parent_id == _sid(main)


def test_after_new_sidechains_alone_the_main_still_grows(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    path = project / "sess1.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        (project / "sess1" / "subagents").mkdir(parents=True)
        (project / "sess1" / "subagents" / "agent-a1.jsonl").write_text(
            _line("s1", "user", "sub-task"))
        assert store.import_("claude-code", project).extended == [sid]
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second"))
        report = store.import_("claude-code", project)
        assert report.extended == [sid] and report.not_imported == []
        assert [m.content for m in store.state(sid).messages] == ["first", "second"]


BOUNDARY = json.dumps({"type": "system", "subtype": "compact_boundary", "uuid": "b"}) + "\n"
PROGRESS = json.dumps({"type": "progress", "uuid": "p"}) + "\n"


def test_a_file_that_ends_at_a_boundary_is_already_here_after_a_change_by_hand(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        with path.open("a") as f:
            f.write(_line("u2", "user", "second") + BOUNDARY)
        assert store.import_("claude-code", path).extended == [sid]
        version = store.add_message(sid, "user", "by hand")
        report = store.import_("claude-code", path, strict=True)
        assert report.existing == [sid] and report.not_imported == []
        assert store.current_version(sid) == version


def test_lines_after_a_last_boundary_are_read_once(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        with path.open("a") as f:
            f.write(BOUNDARY + "garbage{\n")
        first = store.import_("claude-code", path)
        assert first.extended == [sid] and first.malformed == 1
        assert store.state(sid).counters.compactions == 1  # without its summary, then
        again = store.import_("claude-code", path, strict=True)
        assert again.existing == [sid] and again.malformed == 0


def test_a_retried_extension_counts_its_lines_and_bytes_once(tmp_path: Path) -> None:
    path, db = tmp_path / "live.jsonl", str(tmp_path / "s.db")
    with SessionStore(db) as first, SessionStore(db) as second:
        sid = _first_import(first, path)
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second") + "not json\n")
        advanced: list[int] = []
        more: list[int] = []

        def label_meanwhile(nbytes: int) -> None:  # makes the extension's commit conflict
            advanced.append(nbytes)
            if len(advanced) == 2:
                second.set_label(sid, "meanwhile")

        report = first.import_("claude-code", path, progress=label_meanwhile,
                               more_input=more.append)
        assert report.extended == [sid] and report.malformed == 1 and len(report.problems) == 1
        assert sum(advanced) == path.stat().st_size + sum(more) and sum(more) > 0
        assert [m.content for m in first.state(sid).messages] == ["first", "second"]


@pytest.mark.parametrize("grows_meanwhile", [False, True])
def test_two_first_imports_at_once_write_each_line_once(
    tmp_path: Path, grows_meanwhile: bool
) -> None:
    path, db = tmp_path / "live.jsonl", str(tmp_path / "s.db")
    second_line = _line("u2", "assistant", "second")
    path.write_text(_line("u1", "user", "first") + ("" if grows_meanwhile else second_line))
    with SessionStore(db) as first, SessionStore(db) as rival:
        def rival_wins() -> Any:  # with the whole file, or with the first line only
            won = rival.import_("claude-code", path)
            if grows_meanwhile:
                with path.open("a") as f:
                    f.write(second_line)
            return won

        report, racing = _import_while(first, path, rival_wins)
        (sid,) = racing.created
        assert report.created == [] and report.existing == ([] if grows_meanwhile else [sid])
        assert report.extended == ([sid] if grows_meanwhile else [])
        assert [m.content for m in first.state(sid).messages] == ["first", "second"]


def test_a_main_changed_by_hand_gets_no_new_sidechain_and_strict_says_why(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    path = project / "sess1.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        store.complete(sid, result="closed by hand")
        sub = project / "sess1" / "subagents" / "agent-a1.jsonl"
        sub.parent.mkdir(parents=True)
        sub.write_text(_line("s1", "user", "sub-task"))
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second"))
        report = store.import_("claude-code", project)
        assert report.created == [] and len(report.not_imported) == 2
        assert "changed since by hand (SessionCompleted" in report.not_imported[0]
        assert "a new sidechain of session" in report.not_imported[1]
        with pytest.raises(ImportAborted, match="changed since by hand"):
            store.import_("claude-code", project, strict=True)


def test_a_session_changed_by_hand_is_already_here_when_only_skipped_lines_came(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        version = store.add_message(sid, "user", "by hand")
        with path.open("a") as f:
            f.write(PROGRESS)
        report = store.import_("claude-code", path, strict=True)
        assert report.existing == [sid] and report.not_imported == [] and not report.skipped
        assert store.current_version(sid) == version


def test_skipped_lines_alone_add_nothing_and_are_read_again_with_the_next_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        version = store.current_version(sid)
        with path.open("a") as f:
            f.write(PROGRESS)
        quiet = store.import_("claude-code", path)
        assert quiet.existing == [sid] and quiet.events == 0
        assert store.current_version(sid) == version
        with path.open("a") as f:
            f.write(_line("u2", "assistant", "second"))
        report = store.import_("claude-code", path)
        assert report.extended == [sid] and sum(report.skipped.values()) == 1
        imported = store.state(sid).imported
        assert imported is not None and imported.size == path.stat().st_size


def test_a_race_lost_before_writing_goes_on_from_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessionstore.importers import claude_code

    path, db = tmp_path / "live.jsonl", str(tmp_path / "s.db")
    path.write_text(_line("u1", "user", "first"))
    fingerprint = claude_code.file_fingerprint
    with SessionStore(db) as first, SessionStore(db) as rival:
        won: list[Any] = []

        def rival_wins_then_file_grows(file: Path) -> str:  # between the two exists checks
            if not won:
                won.append(None)  # the rival's own import hashes the file too
                won[0] = rival.import_("claude-code", path)
                with path.open("a") as f:
                    f.write(_line("u2", "assistant", "second"))
            return fingerprint(file)

        monkeypatch.setattr(claude_code, "file_fingerprint", rival_wins_then_file_grows)
        report = first.import_("claude-code", path, strict=True)
        (sid,) = won[0].created
        assert report.extended == [sid] and report.not_imported == []
        assert [m.content for m in first.state(sid).messages] == ["first", "second"]


SUMMARY = json.dumps({"type": "user", "uuid": "u9", "isCompactSummary": True,
                      "message": {"role": "user", "content": "so far"}}) + "\n"


@pytest.mark.parametrize("after_boundary", ["", "\n\r\n", PROGRESS])
def test_a_last_boundary_waits_for_its_summary_past_blank_and_skipped_lines(
    tmp_path: Path, after_boundary: str
) -> None:
    path = tmp_path / "live.jsonl"
    with SessionStore(":memory:") as store:
        sid = _first_import(store, path)
        with path.open("a") as f:
            f.write(BOUNDARY + after_boundary)
        store.import_("claude-code", path)
        assert store.state(sid).counters.compactions == 0
        with path.open("a") as f:
            f.write(SUMMARY)
        store.import_("claude-code", path)
        [compaction] = [e for e in store.events(sid) if e.type == "ContextCompacted"]
    assert compaction.data["summary"] == "so far"


@pytest.fixture
def imported_before_marks(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import as sessionstore did before ``SourceImported``: no mark at the end."""
    from sessionstore.importers.core import SessionWriter

    def import_without_mark(store: SessionStore, path: Path) -> str:
        with monkeypatch.context() as patch:
            patch.setattr(SessionWriter, "source_read", lambda *args: None)
            (sid,) = store.import_("claude-code", path).created
        assert store.state(sid).imported is None
        return sid

    return import_without_mark


def test_a_session_imported_before_marks_is_extended_from_where_that_import_stopped(
    tmp_path: Path, imported_before_marks: Any
) -> None:
    path = tmp_path / MAIN.name
    path.write_bytes(b"".join(MAIN_LINES[:40]))
    whole_file = tmp_path / "whole" / MAIN.name
    whole_file.parent.mkdir()
    shutil.copy(MAIN, whole_file)
    with SessionStore(":memory:") as store, SessionStore(":memory:") as once:
        sid = imported_before_marks(store, path)
        assert store.import_("claude-code", path).existing == [sid]  # unchanged
        path.write_bytes(MAIN.read_bytes())
        assert store.import_("claude-code", path).extended == [sid]
        once.import_("claude-code", whole_file)
        assert _conversation(store.state(sid)) == _conversation(once.state(sid))
        assert store.import_("claude-code", path).existing == [sid]


def test_a_session_imported_before_marks_still_refuses_another_file_or_a_hand_change(
    tmp_path: Path, imported_before_marks: Any
) -> None:
    path = tmp_path / "live.jsonl"
    path.write_text(_line("u1", "user", "first"))
    with SessionStore(":memory:") as store:
        sid = imported_before_marks(store, path)
        path.write_text(_line("u1", "user", "FIRST") + _line("u2", "user", "more"))
        assert "other content" in store.import_("claude-code", path).not_imported[0]
        path.write_text(_line("u1", "user", "first") + _line("u2", "user", "more"))
        store.add_message(sid, "user", "by hand")
        assert "changed since by hand" in store.import_("claude-code", path).not_imported[0]
        assert [m.content for m in store.state(sid).messages] == ["first", "by hand"]
