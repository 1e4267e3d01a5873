"""The write commands, import and export from the command line: output, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main


@pytest.fixture
def run(tmp_path: Path):
    db = str(tmp_path / "cli.db")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, ["--db", db, "--durability", "normal", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.output

    invoke.db = db  # type: ignore[attr-defined]
    return invoke


def test_a_strict_json_import_that_stops_reports_what_it_wrote_before(tmp_path: Path) -> None:
    good, bad = tmp_path / "a-good.json", tmp_path / "b-bad.json"
    good.write_text(json.dumps([{"role": "user", "content": "hi"}]))
    bad.write_text(json.dumps([{"role": "user", "content": "hi"}, "junk"]))
    db = str(tmp_path / "cli.db")
    result = CliRunner().invoke(main, ["--db", db, "--json", "import", "--strict",
                                       "openai-chat", str(good), str(bad)])
    assert result.exit_code == 2
    out = json.loads(result.stdout)  # the report on stdout, the error on stderr
    assert len(out["created"]) == 1 and out["events"] > 0
    assert out["stopped"].startswith(f"{bad}:item[1]") and "stopped (--strict)" in out["stopped"]
    assert "error:" in result.stderr and "1 earlier session of this import stays" in result.stderr
    with SessionStore(db) as store:  # the first file's session stays, as reported
        assert [h.session_id for h in store._log.heads()] == out["created"]


def test_a_session_lifecycle_from_the_command_line(run):
    sid = json.loads(run("--json", "create", "triage", "--agent", "main",
                         "--metadata", '{"team": "infra"}'))["session_id"]
    run("status", sid, "active")
    run("agent", "add", sid, "r1", "--role", "research")
    run("agent", "status", sid, "r1", "busy")
    run("message", sid, "assistant", "running", "--agent", "r1", "--tokens-out", "7",
        "--tool-calls", '[{"id": "c1", "name": "bash", "arguments": {"cmd": "ls"}}]')
    run("message", sid, "tool", "a b", "--tool-name", "bash", "--tool-call-id", "c1")
    run("task", "start", sid, "t1", "--agent", "r1", "--description", "list")
    run("task", "done", sid, "t1", "--outcome", "2 files", "--tokens", "5")
    run("label", sid, "reviewed")
    run("compact", sid, "--trigger", "manual", "--tokens-before", "900", "--summary", "so far")
    run("agent", "remove", sid, "r1", "--reason", "done")
    out = json.loads(run("--json", "complete", sid, "--result", "ok"))
    assert out == {"session_id": sid, "version": 12}
    with SessionStore(run.db) as store:
        state = store.state(sid)
    assert state.status == "completed" and state.result == "ok" and state.label == "reviewed"
    assert state.metadata == {"team": "infra"}
    assert [m.role for m in state.messages] == ["assistant", "tool"]
    assert state.messages[0].tool_calls[0].arguments == {"cmd": "ls"}
    assert state.tasks["t1"].outcome == "2 files" and state.agents == {}
    assert state.counters.compactions == 1


@pytest.mark.parametrize(("args", "code", "text"), [
    (("status", "00000000-0000-4000-8000-000000000000", "active"), 3, "no session"),
    (("message", "SID", "user", "hi", "--agent", "ghost"), 4, "no agent 'ghost'"),
    (("status", "SID", "completed"), 4, "cannot move"),
    (("message", "SID", "user", "hi", "--expect", "7"), 5, "not 7"),
    (("message", "SID", "user", "hi", "--tool-calls", "[oops"), 2, "--tool-calls must be JSON"),
    (("create", "x", "--max-agents", "0"), 2, "max_agents"),
])
def test_errors_are_one_line_with_a_documented_exit_code(run, args, code, text):
    sid = run("create", "s").strip()
    output = run(*[sid if a == "SID" else a for a in args], code=code)
    assert text in output
    assert output.count("error:") == 1 and len(output.strip().splitlines()) <= 3


def test_import_summarises_and_export_round_trips(run, tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi"}, "junk",
                                {"role": "assistant", "content": "hello"}]))
    out = json.loads(run("--json", "import", "openai-chat", str(path)))
    assert len(out["created"]) == 1 and out["events"] == 5 and out["malformed"] == 1
    assert out["problems"][0].startswith(f"{path}:item[1]")
    text = run("import", "openai-chat", str(path))
    assert "1 session already here: not imported again" in text
    run("import", "openai-chat", "--strict", str(tmp_path / "nothing.json"), code=2)

    sid = out["created"][0]
    exported = tmp_path / "out.jsonl"
    run("export", sid, "-o", str(exported))
    other = tmp_path / "other.db"
    result = CliRunner().invoke(main, ["--db", str(other), "--json", "import", "jsonl",
                                       str(exported)])
    assert json.loads(result.output)["created"] == [sid]
    with SessionStore(str(other)) as a, SessionStore(run.db) as b:
        assert a.state(sid).model_dump() == b.state(sid).model_dump()


def test_strict_import_exits_2_with_the_location(run, tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi"}, {"role": "robot"}]))
    output = run("import", "--strict", "openai-chat", str(path), code=2)
    assert f"{path}:item[1]" in output and "nothing of this session was written" in output


BAD_OPTIONS = [
    (["replay", "{sid}", "--time", ""], "'' is not a time: use ISO 8601"),
    (["replay", "{sid}", "--messages", "-1"], "-1 is not in the range x>=0"),
    (["tree", "--depth", "-1"], "-1 is not in the range x>=0"),
    (["project", "--until-idle", "5"], "--until-idle and --duration bound --follow"),
    (["project", "--follow", "--poll", "0"], "0 is not in the range x>0"),
    (["label", "{sid}", "x", "--expect", "-1"], "-1 is not in the range x>=1"),
    (["create", "deep", "--metadata", "[" * 5000 + "]" * 5000],
     "--metadata is nested too deeply to store"),
    (["create", "nan", "--metadata", '{"a": NaN}'], "nan is not a JSON number"),
    (["create", " "], "a session's name must not be empty"),
    (["label", "{sid}", "x" * 70_000], "invalid LabelChanged: label is 70000 bytes"),
    (["replay", "{sid}", "--version", "1", "--time", "2026-01-01"],
     "(on the command line: --version, --time, --checkpoint)"),
]


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS,
                         ids=[" ".join(a[:3])[:40] for a, _ in BAD_OPTIONS])
def test_bad_options_get_an_error_that_names_them_and_change_nothing(run, args, message):
    sid = json.loads(run("--json", "create", "chat"))["session_id"]
    with SessionStore(run.db) as store:
        before = [e.hash for e in store.events(sid)], len(store.sessions())
    output = run(*[sid if a == "{sid}" else a for a in args], code=2)
    assert message in " ".join(output.split())  # click and rich wrap long lines
    with SessionStore(run.db) as store:
        assert ([e.hash for e in store.events(sid)], len(store.sessions())) == before


def test_list_fits_an_80_column_terminal_and_keeps_every_id_whole(run):
    ids = [json.loads(run("--json", "create", f"a rather long session name {n}"))["session_id"]
           for n in range(3)]
    output = CliRunner().invoke(main, ["--db", run.db, "list"], env={"COLUMNS": "80"}).output
    assert max(len(line) for line in output.splitlines()) <= 80
    assert all(sid in output for sid in ids)
    assert "status" in output and "last activity" in output


def test_an_in_memory_store_warns_that_nothing_is_kept():
    result = CliRunner().invoke(main, ["--db", ":memory:", "create", "gone"])
    assert result.exit_code == 0
    assert "note: an in-memory store keeps nothing once this command ends" in result.output


def test_checkpoints_and_search_keep_ids_whole_at_80_columns_and_count_in_words(run):
    sid = json.loads(run("--json", "create", "chat"))["session_id"]
    run("message", sid, "user", "a rounding error in money.py, again and again")
    cid = json.loads(run("--json", "checkpoint", sid, "--label", "before-refactor"))[
        "checkpoint_id"]
    env = {"COLUMNS": "80"}
    listed = CliRunner().invoke(main, ["--db", run.db, "checkpoints", sid], env=env).output
    found = CliRunner().invoke(main, ["--db", run.db, "search", "rounding"], env=env).output
    for output, whole in ((listed, cid), (found, sid)):
        assert max(len(line) for line in output.splitlines()) <= 80
        assert whole in output
    assert "1 checkpoint of" in listed and "1 match" in found


def test_a_following_worker_may_start_before_its_store_exists(tmp_path):
    source, views = tmp_path / "later.db", tmp_path / "views.db"
    result = CliRunner().invoke(main, [
        "--durability", "normal", "project", "--follow", "--until-idle", "0.2",
        "--source", str(source), "--db", str(views)])
    assert result.exit_code == 0, result.output
    assert "projected: 0 events applied" in result.output
    once = CliRunner().invoke(main, ["--db", str(tmp_path / "typo.db"), "project"])
    assert once.exit_code == 2 and "no store at" in once.output


def test_a_memory_url_store_warns_too():
    result = CliRunner().invoke(main, ["--db", "memory://", "create", "gone"])
    assert result.exit_code == 0
    assert "note: an in-memory store keeps nothing" in result.output


def test_an_export_piped_into_import_dash_comes_back_identical(run, tmp_path):
    sid = json.loads(run("--json", "create", "piped"))["session_id"]
    run("message", sid, "user", "through a pipe")
    exported = run("export", sid)
    other = str(tmp_path / "other.db")
    result = CliRunner().invoke(main, ["--db", other, "import", "jsonl", "-"], input=exported)
    assert result.exit_code == 0 and "imported 1 session, 2 events" in result.output
    with SessionStore(run.db) as a, SessionStore(other) as b:
        assert [e.hash for e in a.events(sid)] == [e.hash for e in b.events(sid)]
    refused = CliRunner().invoke(main, ["--db", other, "import", "claude-code", "-"], input="x")
    assert refused.exit_code == 2 and "works for jsonl exports only" in refused.output
    empty = CliRunner().invoke(main, ["--db", other, "import", "jsonl", "-"], input="")
    assert empty.exit_code == 2 and "nothing came on standard input" in empty.output


def test_show_prints_maps_as_key_value_pairs(run):
    sid = json.loads(run("--json", "create", "chat", "--metadata", '{"team": "infra"}'))[
        "session_id"]
    run("message", sid, "user", "hello")
    text = CliRunner().invoke(main, ["--db", run.db, "show", sid], env={"COLUMNS": "120"}).output
    assert "team: infra" in text and "user: 1" in text and "{'" not in text


def test_tree_shows_fork_labels_and_says_what_its_depth_cut(run):
    root = json.loads(run("--json", "create", "root"))["session_id"]
    run("status", root, "active")
    first = json.loads(run("--json", "fork", root, "--label", "retry"))["session_id"]
    run("fork", first)
    env = {"COLUMNS": "160"}
    full = CliRunner().invoke(main, ["--db", run.db, "tree"], env=env).output
    cut = CliRunner().invoke(main, ["--db", run.db, "tree", "--depth", "1"], env=env).output
    assert "root [retry]" in full and "more session" not in full
    assert "… 1 more session below (raise --depth)" in cut
    top = CliRunner().invoke(main, ["--db", run.db, "tree", "--depth", "0"], env=env).output
    assert "… 2 more sessions below (raise --depth)" in top  # the fork's fork counts too
