"""The benchmark suite runs end to end at a tiny size and writes the rows it promises.

No timing is asserted here: speed is only measured in ``benchmarks/``.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_appends, bench_floor, bench_stages
from benchmarks.__main__ import main
from benchmarks.peers.base import MESSAGE_BYTES, TOOL_EVERY, raw_json_bytes, workload
from benchmarks.peers.report import targets
from benchmarks.peers.suite import Figure
from sessionstore import SessionStore

N = 20
Doc = dict[str, Any]


def test_the_workload_alternates_roles_with_a_tool_message_every_tenth() -> None:
    messages = workload(N)
    assert [m.role for m in messages[:4]] == ["user", "assistant", "user", "assistant"]
    assert [i for i, m in enumerate(messages, 1) if m.role == "tool"] == [10, 20]
    assert all(len(m.content) == MESSAGE_BYTES for m in messages)
    assert messages[TOOL_EVERY - 1].tool_call_id == "call_10"
    assert workload(N) == messages  # the same every run


@pytest.fixture(scope="module")
def suite_json(tmp_path_factory: pytest.TempPathFactory) -> Doc:
    out = tmp_path_factory.mktemp("results")
    path = main(["--n", str(N), "--runs", "2", "--durability", "full", "normal",
                 "--systems", "sessionstore", "eventsourcing", "--out", str(out)])
    assert path.parent == out
    return json.loads(Path(path).read_text())


def _figures(document: Doc, system: str, durability: str = "full") -> Doc:
    return {f["metric"]: f for f in document["figures"]
            if f["system"] == system and f["durability"] == durability}


def test_sessionstore_has_every_metric_with_ratios_against_raw_sqlite(suite_json: Doc) -> None:
    for durability in ("full", "normal"):
        ours = _figures(suite_json, "sessionstore", durability)
        for metric in ("append_one", "append_batch", "read_all", "read_last_100", "state_cold",
                       "replay_events", "time_travel", "fork", "disk_bytes", "log_bytes"):
            assert ours[metric]["median"] is not None, metric
            assert len(ours[metric]["runs"]) == 2
        assert ours["append_one"]["vs_raw_sqlite3"] > 0
        assert ours["append_one"]["unit"] == "events/s"


def test_raw_sqlite_is_its_own_baseline(suite_json: Doc) -> None:
    raw = _figures(suite_json, "raw sqlite3")
    assert raw["append_one"]["vs_raw_sqlite3"] == pytest.approx(1.0)
    assert raw["append_one"]["sessionstore_vs_this"] > 0


def test_a_peer_gets_sessionstores_ratio_and_says_what_it_lacks(suite_json: Doc) -> None:
    peer = _figures(suite_json, "eventsourcing")
    assert peer["read_all"]["sessionstore_vs_this"] > 0
    assert peer["fork"]["median"] is None and peer["fork"]["note"] == "no forks"
    assert not _figures(suite_json, "eventsourcing", "normal")  # no durability setting


def test_the_raw_json_yardstick_is_the_size_of_the_messages(suite_json: Doc) -> None:
    assert _figures(suite_json, "raw JSON")["disk_bytes"]["median"] == raw_json_bytes(workload(N))


def test_every_target_of_the_issue_is_reported(suite_json: Doc) -> None:
    names = [t["target"] for t in suite_json["targets"]]
    assert len(names) == 5
    assert all(t["value"] is not None and t["met"] in (True, False) for t in suite_json["targets"])


def test_a_target_is_met_only_when_the_ratio_reaches_its_goal() -> None:
    def fig(system: str, metric: str, value: float) -> Figure:
        return Figure(system, 10, "full", metric, "events/s", value, [value])

    checks = targets([
        fig("sessionstore", "append_one", 70.0), fig("raw sqlite3", "append_one", 100.0),
        fig("sessionstore", "append_batch", 39.0), fig("raw sqlite3", "append_batch", 100.0),
    ])
    assert [c["met"] for c in checks[:2]] == [True, False]
    assert checks[2]["met"] is None  # no eventsourcing figure: not measured, not failed


def test_append_targets_show_each_rounds_ratio_against_that_rounds_raw_sqlite3() -> None:
    def fig(system: str, metric: str, runs: list[float]) -> Figure:
        return Figure(system, 10, "full", metric, "events/s", sorted(runs)[1], runs)

    checks = targets([
        fig("sessionstore", "append_one", [60.0, 90.0, 70.0]),
        fig("raw sqlite3", "append_one", [100.0, 120.0, 80.0]),
        fig("sessionstore", "state_cold", [1.0, 1.0, 1.0]),
    ])
    assert checks[0]["same_run"] == pytest.approx([0.6, 0.75, 0.875])
    assert checks[0]["value"] == pytest.approx(70 / 100)  # judged on the medians, as before
    assert checks[2]["same_run"] == []  # only throughputs against raw sqlite3


def test_the_append_benchmark_reports_a_ratio_per_mode() -> None:
    results = bench_appends.run(N, ["normal"], runs=1)
    assert [r["mode"] for r in results] == ["one event per commit", "batches of 100"]
    for r in results:
        assert r["ratio"] == pytest.approx(
            r["sessionstore_events_per_s"] / r["raw_sqlite3_events_per_s"])


@pytest.mark.parametrize("batched", [False, True])
def test_the_stage_profile_splits_the_total_and_puts_every_method_back(batched: bool) -> None:
    originals = {(owner, name): owner.__dict__[name]
                 for owner, name, _ in (*bench_stages._SHARED, bench_stages._DOMAIN[batched])}
    spent = bench_stages.stages_once(workload(N), "normal", batched)
    assert all(spent[stage] > 0 for stage in ("domain", "encode", "zstd", "record"))
    assert spent["zstd"] < spent["encode"]  # compression is part of encoding
    inside = sum(spent[s] for s in ("domain", "encode", "record", "checkpoints"))
    assert spent["other"] == pytest.approx(spent["total"] - inside)
    assert 0 < inside < spent["total"]  # the stages run inside the timed appends
    assert all(owner.__dict__[name] is f for (owner, name), f in originals.items())


def test_the_floor_writes_the_log_sessionstore_writes(tmp_path: Path) -> None:
    """bench_floor's stripped writer stores what add_message stores: a log that verifies and
    replays to the same messages, so its ratio is a fair bound for the write path."""
    messages = workload(N)
    assert bench_floor._floor(tmp_path, messages, "normal") > 0
    with SessionStore(str(tmp_path / "floor.db")) as floor, SessionStore(":memory:") as ours:
        (sid,) = [head.session_id for head in floor._log.heads()]
        assert floor.verify(sid).ok
        theirs = ours.create_session("floor", agent_id="main")
        for m in messages:
            ours.add_message(theirs, m.role, m.content, tool_name=m.tool_name,
                             tool_call_id=m.tool_call_id)

        def stored(store: SessionStore, session: str) -> list[Doc]:
            return [r.data for r in store.events(session)][1:]

        assert stored(floor, sid) == stored(ours, theirs)
        assert floor.state(sid).counters.messages == N


def test_the_floor_benchmark_times_each_case_in_every_round() -> None:
    samples = bench_floor.run(N, runs=2, durability="normal")
    assert list(samples) == list(bench_floor.CASES)
    assert all(len(values) == 2 and min(values) > 0 for values in samples.values())


def _stored(folder: Path) -> tuple[int, int]:
    """Rows of the benchmark's store and the version its one head row says."""
    with closing(sqlite3.connect(folder / "sessions.db")) as db:
        (rows,) = db.execute("SELECT count(*) FROM stored_events").fetchone()
        (version,) = db.execute("SELECT version FROM session_heads").fetchone()
    return rows, version


@pytest.mark.parametrize(
    ("parts", "rows", "head"),
    [(("heads",), N + 1, 1), (("sql",), 1, 1), (("sql", "encoding"), 1, 1), ((), N + 1, N + 1)],
)
def test_each_part_case_switches_off_exactly_its_part(
    tmp_path: Path, parts: tuple[str, ...], rows: int, head: int
) -> None:
    case = bench_floor._without(*parts)
    assert case(tmp_path, workload(N), "normal") > 0
    assert _stored(tmp_path) == (rows, head)  # the session's first event is written untimed


def test_the_floor_benchmark_adds_the_part_cases_on_the_cpu_clock() -> None:
    samples = bench_floor.run(N, runs=1, durability="normal", parts=True, clock="cpu")
    assert list(samples) == [*bench_floor.CASES, *bench_floor.PARTS]
    assert all(len(values) == 1 and min(values) > 0 for values in samples.values())
