"""Every sample transcript in tests/fixtures imports without error, with its real contents.

Expected numbers are computed here from the raw files with ``json``, independently of the
importers: message counts per role, tool calls by name, token totals, sub-agent links.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionstore import SessionState, SessionStore
from sessionstore.importers import session_uuid
from sessionstore.importers.core import ImportAborted

FIXTURES = Path(__file__).parent.parent / "fixtures"
FORMATS = {"claude-code": "claude-code", "swe-agent": "swe-agent",
           "openai-chat": "openai-chat", "openhands": "openhands"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SessionStore, dict]]:
    path = tmp_path_factory.mktemp("samples") / "samples.db"
    with SessionStore(str(path), durability="normal") as store:
        reports = {fmt: store.import_(fmt, FIXTURES / folder) for fmt, folder in FORMATS.items()}
        yield store, reports


def roles(state: SessionState) -> Counter[str]:
    return Counter(str(m.role) for m in state.messages)


def tool_names(state: SessionState) -> Counter[str]:
    return Counter(c.name for m in state.messages for c in m.tool_calls)


def test_every_sample_file_imports_without_error(imported):
    _, reports = imported
    for fmt, report in reports.items():
        assert report.malformed == 0, (fmt, report.problems)
        assert report.created, fmt
    assert reports["claude-code"].files == 11
    assert reports["swe-agent"].files == 6
    assert len(reports["openai-chat"].created) == 200
    assert len(reports["openhands"].created) == 3 + 2  # 3 event lists + 2 resolver records


def test_importing_again_writes_nothing_and_names_the_sessions(imported):
    store, reports = imported
    for fmt, folder in FORMATS.items():
        again = store.import_(fmt, FIXTURES / folder)
        assert again.created == [] and again.events == 0
        assert sorted(again.existing) == sorted(reports[fmt].created)


# -- claude-code ------------------------------------------------------------------------------
def _claude_expected(path: Path) -> dict[str, Any]:
    role_counts: Counter[str] = Counter()
    names: Counter[str] = Counter()
    final_usage: dict[str, dict[str, int]] = {}
    compactions = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = json.loads(raw)
        if line["type"] == "system" and line.get("subtype") == "compact_boundary":
            compactions += 1
        if line["type"] == "assistant":
            role_counts["assistant"] += 1
            message = line["message"]
            names.update(b["name"] for b in message["content"] if b["type"] == "tool_use")
            if "usage" in message:
                final_usage[message["id"]] = message["usage"]  # the last line wins
        elif line["type"] == "user":
            content = line["message"]["content"]
            if isinstance(content, str):
                role_counts["user"] += 1
                continue
            results = [b for b in content if b["type"] == "tool_result"]
            role_counts["tool"] += len(results)
            role_counts["user"] += 1 if len(results) < len(content) else 0
    tokens_in = sum(u["input_tokens"] + u.get("cache_creation_input_tokens", 0)
                    + u.get("cache_read_input_tokens", 0) for u in final_usage.values())
    tokens_out = sum(u["output_tokens"] for u in final_usage.values())
    return dict(roles=role_counts, names=names, tokens=(tokens_in, tokens_out),
                compactions=compactions)


def _claude_files() -> list[Path]:
    return sorted((FIXTURES / "claude-code").rglob("*.jsonl"))


@pytest.mark.parametrize("path", _claude_files(), ids=lambda p: p.name[:20])
def test_claude_code_contents(imported, path):
    store, _ = imported
    sub = path.parent.name == "subagents"
    source = f"{path.parent.parent.name}/{path.stem}" if sub else path.stem
    state = store.state(session_uuid("claude-code", source))
    expected = _claude_expected(path)
    assert roles(state) == expected["roles"]
    assert tool_names(state) == expected["names"]
    assert (state.counters.tokens_in, state.counters.tokens_out) == expected["tokens"]
    assert state.counters.compactions == expected["compactions"]
    first = json.loads(next(line for line in path.read_text().splitlines()
                            if json.loads(line)["type"] in ("user", "assistant")))
    assert state.messages[0].occurred_at.isoformat().startswith(first["timestamp"][:19])


def test_claude_code_keeps_thinking_model_and_tool_inputs(imported):
    store, _ = imported
    state = store.state(session_uuid("claude-code", "4d5611e5-241a-462a-8d15-5122611a9569"))
    thinking = [m for m in state.messages if m.metadata.get("thinking")]
    assert len(thinking) == 14
    assert {m.model for m in state.messages if m.role == "assistant"} >= {"claude-opus-4-6"}
    bash = next(c for m in state.messages for c in m.tool_calls if c.name == "Bash")
    assert bash.arguments["command"] == "bd show spotter-dov"
    answer = next(m for m in state.messages if m.tool_call_id == bash.id)
    assert answer.role == "tool" and answer.tool_name == "Bash"


def test_claude_code_compaction_keeps_trigger_size_and_summary(imported):
    store, _ = imported
    path = FIXTURES / "claude-code" / "spotter" / "4d5611e5-241a-462a-8d15-5122611a9569.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    at = next(i for i, line in enumerate(lines) if line.get("subtype") == "compact_boundary")
    boundary, summary = lines[at], lines[at + 1]
    assert summary.get("isCompactSummary")
    sid = session_uuid("claude-code", path.stem)
    [event] = [e for e in store.events(sid) if e.type == "ContextCompacted"]
    assert event.data["trigger"] == boundary["compactMetadata"]["trigger"]
    assert event.data["tokens_before"] == boundary["compactMetadata"]["preTokens"]
    assert summary["message"]["content"].startswith(event.data["summary"].rstrip("…"))
    assert event.occurred_at.isoformat().startswith(boundary["timestamp"][:19])


def test_claude_code_subagents_are_linked_to_their_parent(imported):
    store, _ = imported
    for main_file in sorted((FIXTURES / "claude-code").glob("*/*.jsonl")):
        parent_id = session_uuid("claude-code", main_file.stem)
        parent = store.state(parent_id)
        subs = sorted((main_file.parent / main_file.stem / "subagents").glob("*.jsonl"))
        assert subs, main_file
        for sub in subs:
            child = store.state(session_uuid("claude-code", f"{main_file.stem}/{sub.stem}"))
            assert child.parent_id == parent_id and child.kind == "subagent"
            assert child.agent_id == json.loads(sub.read_text().splitlines()[0])["agentId"]
            assert sub.stem.removeprefix("agent-") in parent.agents


# -- openai-chat (tau-bench) --------------------------------------------------------------------
def test_openai_chat_records_become_sessions_with_their_messages(imported):
    store, _ = imported
    records = json.loads((FIXTURES / "openai-chat" / "gpt-4o-airline.json").read_text())
    for index in (0, 57, 199):
        record = records[index]
        state = store.state(session_uuid("openai-chat", f"gpt-4o-airline.json#{index}"))
        assert roles(state) == Counter(m["role"] for m in record["traj"])
        assert tool_names(state) == Counter(
            c["function"]["name"] for m in record["traj"] for c in m.get("tool_calls") or [])
        assert state.status == "completed" and state.result == f"reward {record['reward']}"
        assert state.metadata["task_id"] == record["task_id"]
    all_messages = sum(len(r["traj"]) for r in records)
    assert sum(store.state(session_uuid("openai-chat", f"gpt-4o-airline.json#{i}"))
               .counters.messages for i in range(200)) == all_messages


# -- swe-agent ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted((FIXTURES / "swe-agent").glob("*.traj")),
                         ids=lambda p: p.stem[:24])
def test_swe_agent_contents(imported, path):
    store, _ = imported
    traj = json.loads(path.read_text())
    state = store.state(session_uuid("swe-agent", path.stem))
    assert roles(state) == Counter(m["role"] for m in traj["history"])
    assert tool_names(state) == Counter(
        c["function"]["name"] for m in traj["history"] for c in m.get("tool_calls") or [])
    steps = traj.get("trajectory", [])
    assert len(state.tasks) == len(steps) == state.counters.tasks_completed
    if steps:
        short_steps = [(n, s) for n, s in enumerate(steps) if len(s["action"]) < 2000]
        for n, step in short_steps:
            assert state.tasks[f"step-{n}"].description == step["action"]
    info = traj.get("info", {})
    if info.get("exit_status") == "submitted":
        assert state.status == "completed"
    if "model_stats" in info:
        stats = info["model_stats"]
        stats = ast.literal_eval(stats) if isinstance(stats, str) else stats
        assert state.metadata["model_stats"]["tokens_sent"] == stats["tokens_sent"]
        assert state.metadata["model_stats"]["tokens_received"] == stats["tokens_received"]


# -- openhands ----------------------------------------------------------------------------------
def _openhands_expected(events: list[dict[str, Any]]) -> dict[str, Any]:
    role_counts: Counter[str] = Counter()
    usage: dict[str, dict[str, int]] = {}
    for n, e in enumerate(events):
        if e.get("observation"):
            role_counts["tool"] += 1
        elif e.get("source", "user" if n == 0 else "agent") == "user":
            role_counts["user"] += 1
        else:
            role_counts["assistant"] += 1
        response = (e.get("tool_call_metadata") or {}).get("model_response") or {}
        if response.get("usage"):
            usage[response["id"]] = response["usage"]
    tokens = (sum(u["prompt_tokens"] for u in usage.values()),
              sum(u["completion_tokens"] for u in usage.values()))
    return dict(roles=role_counts, tokens=tokens)


@pytest.mark.parametrize("name", ["basic.json", "basic_interactions.json",
                                  "wrong_initial_state.json"])
def test_openhands_event_lists(imported, name):
    store, _ = imported
    events = json.loads((FIXTURES / "openhands" / name).read_text())
    state = store.state(session_uuid("openhands", name))
    expected = _openhands_expected(events)
    assert roles(state) == expected["roles"]
    assert (state.counters.tokens_in, state.counters.tokens_out) == expected["tokens"]
    assert state.status == "completed"  # every sample ends with a finish action
    actions = Counter(e["action"] for e in events if e.get("action") not in (None, "message"))
    assert tool_names(state) == Counter(
        {next(x["tool_call_metadata"]["function_name"] for x in events if x.get("action") == a):
         n for a, n in actions.items()})


def test_openhands_resolver_records(imported):
    store, _ = imported
    lines = (FIXTURES / "openhands" / "resolver_output.jsonl").read_text().splitlines()
    for line in lines:
        record = json.loads(line)
        issue = record["issue"]
        state = store.state(session_uuid(
            "openhands", f"{issue['owner']}/{issue['repo']}#{issue['number']}"))
        assert roles(state) == _openhands_expected(record["history"])["roles"]
        assert state.task == record["instruction"][:500] or state.task.endswith("…")
        assert state.metadata["metrics"] == record["metrics"]


@pytest.mark.parametrize("named", ["subagents folder", "one sidechain file"])
def test_claude_code_sidechains_named_alone_bring_their_main_transcript(tmp_path, named):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "claude-code" / "spotter", project)
    (main_file,) = project.glob("*.jsonl")
    folder = project / main_file.stem / "subagents"
    sidechains = sorted(folder.glob("*.jsonl"))
    target = folder if named == "subagents folder" else sidechains[0]
    parent_id = session_uuid("claude-code", main_file.stem)
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", target)
        assert report.created[0] == parent_id and len(report.created) == 1 + len(sidechains)
        for sub in sidechains:  # linked, as when the project folder is imported
            child = store.state(session_uuid("claude-code", f"{main_file.stem}/{sub.stem}"))
            assert child.parent_id == parent_id and child.kind == "subagent"


def test_a_claude_code_sidechain_without_its_main_transcript_is_imported_alone(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "claude-code" / "spotter", project)
    (main_file,) = project.glob("*.jsonl")
    main_file.unlink()
    sidechain = sorted((project / main_file.stem / "subagents").glob("*.jsonl"))[0]
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", sidechain)
        (sid,) = report.created
        assert sid == session_uuid("claude-code", f"{main_file.stem}/{sidechain.stem}")
        state = store.state(sid)
        assert state.parent_id is None and state.kind == "subagent"


def _spotter(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A copy of the spotter project: its main transcript and its sidechains."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "claude-code" / "spotter", project)
    (main_file,) = project.glob("*.jsonl")
    return main_file, sorted((project / main_file.stem / "subagents").glob("*.jsonl"))


def test_files_named_twice_in_other_spellings_are_read_once(tmp_path, monkeypatch):
    main_file, sidechains = _spotter(tmp_path)
    (tmp_path / "link").symlink_to(main_file.parent)
    monkeypatch.chdir(tmp_path)
    named = [sidechains[0], Path("link") / main_file.name, Path("project/../project")]
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", *named)
    assert len(report.created) == 1 + len(sidechains) and report.existing == []
    assert report.files == 1 + len(sidechains)


def test_a_sidechain_named_from_inside_its_folder_brings_its_main_along(tmp_path, monkeypatch):
    main_file, sidechains = _spotter(tmp_path)
    monkeypatch.chdir(sidechains[0].parent)
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", sidechains[0].name)
        child = store.state(session_uuid("claude-code", f"{main_file.stem}/{sidechains[0].stem}"))
    assert report.created[0] == session_uuid("claude-code", main_file.stem)
    assert child.parent_id == report.created[0]


def test_under_strict_a_main_that_cannot_come_along_leaves_the_sidechain_alone(tmp_path):
    main_file, sidechains = _spotter(tmp_path)
    lines = main_file.read_text().splitlines(keepends=True)
    main_file.write_text("".join([*lines[:5], "not json\n", *lines[5:]]))
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", sidechains[0], strict=True)
        (sid,) = report.created
        assert sid == session_uuid("claude-code", f"{main_file.stem}/{sidechains[0].stem}")
        assert store.state(sid).parent_id is None
    assert len(report.skipped_files) == 1 and "not a JSON line" in report.skipped_files[0]
    assert report.skipped_files[0].startswith(str(main_file))


def test_the_progress_bar_counts_every_file_read_once(tmp_path):
    main_file, sidechains = _spotter(tmp_path)
    advanced: list[int] = []
    more: list[int] = []
    named = [sidechains[0], sidechains[0].parent / ".." / "subagents" / sidechains[0].name]
    with SessionStore(":memory:") as store:
        store.import_("claude-code", *named, progress=advanced.append, more_input=more.append)
    read = sum(p.stat().st_size for p in [main_file, *sidechains])
    assert sum(advanced) == read
    assert sidechains[0].stat().st_size + sum(more) == read


def test_a_strict_stop_reports_no_skipped_records_of_the_session_it_dropped(tmp_path):
    main_file, _ = _spotter(tmp_path)
    with main_file.open("a") as f:
        f.write("not json\n")
    with SessionStore(":memory:") as store, pytest.raises(ImportAborted) as stop:
        store.import_("claude-code", main_file, strict=True)
    assert stop.value.report is not None
    assert stop.value.report.created == [] and not stop.value.report.skipped


def test_under_strict_a_bad_sibling_of_a_pulled_in_main_stops_the_import(tmp_path):
    main_file, sidechains = _spotter(tmp_path)
    with sidechains[1].open("a") as f:
        f.write("not json\n")
    with SessionStore(":memory:") as store:
        with pytest.raises(ImportAborted, match=sidechains[1].name):
            store.import_("claude-code", sidechains[0], strict=True)
        assert store.current_version(session_uuid("claude-code", main_file.stem)) > 0


def test_the_progress_bar_counts_the_sidechains_of_a_main_named_alone(tmp_path):
    main_file, sidechains = _spotter(tmp_path)
    advanced: list[int] = []
    more: list[int] = []
    with SessionStore(":memory:") as store:
        store.import_("claude-code", main_file, progress=advanced.append, more_input=more.append)
    assert sum(advanced) == main_file.stat().st_size + sum(more)
    assert sum(more) == sum(p.stat().st_size for p in sidechains)
