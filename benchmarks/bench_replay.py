"""Replay benchmarks: time travel, fork cost and checkpoint size on a 100,000-event session.

    python -m benchmarks.bench_replay                 # 100,000 events, checkpoint_every=1000
    python -m benchmarks.bench_replay --quick         # 10,000 events, a smoke run

What it shows (every time is the median of several runs, on a SQLite file with
``durability="normal"``; the session is built with ``store.batch()``):
- time travel to random versions: reducer steps (counted by the store) never exceed
  ``checkpoint_every``; its time against a full replay from the events (the baseline,
  measured in the same run);
- fork cost at 1,000 events and at 100,000 events: the ratio should be about 1; then
  ``checkpoint_every`` appends to each fork, through its first automatic checkpoint (a
  delta of the parent's): the slowest append and the fork's checkpoint bytes, which should
  not grow with the parent;
- the cost of automatic checkpoints on the write path: building a fifth of the session
  with and without them;
- checkpoint size: the newest full checkpoint's compressed bytes against the raw JSON of the
  same state; the newest checkpoint with the delta chain it needs; and all the session's
  checkpoints together against the raw JSON of every checkpointed state (what full,
  uncompressed snapshots would have cost) and against the session's stored events.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sessionstore import SessionStore
from sessionstore.core import StoreCore


def build(store: SessionStore, events: int, rnd: random.Random) -> str:
    """A session of ``events`` events: mostly messages, some agent and task changes."""
    words = ["".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=rnd.randint(3, 9)))
             for _ in range(3000)]
    with store.batch():
        sid = store.create_session("bench replay", agent_id="main", max_agents=4)
        store.add_agent(sid, "worker")
        version = store.change_status(sid, "active")
        tasks, agent = 0, "starting"
        while version < events:
            roll = rnd.random()
            if roll < 0.01 and version + 2 <= events:
                tasks += 1
                store.start_task(sid, f"t{tasks}", agent_id="worker", description="a task")
                version = store.complete_task(sid, f"t{tasks}", outcome="done",
                                              tokens=rnd.randint(1, 900))
            elif roll < 0.03:
                agent = rnd.choice([s for s in ("active", "idle", "busy") if s != agent])
                version = store.change_agent_status(sid, "worker", agent)
            else:
                content = " ".join(rnd.choices(words, k=rnd.randint(20, 120)))
                version = store.add_message(
                    sid, rnd.choice(["user", "assistant", "tool"]), content,
                    tokens_in=rnd.randint(10, 500), tokens_out=rnd.randint(0, 300))
    return sid


def median_time(operation: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        operation()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_travel(store: SessionStore, sid: str, rnd: random.Random, runs: int) -> dict[str, Any]:
    head = store.current_version(sid)
    versions = [rnd.randint(1, head) for _ in range(runs)]
    steps, times = [], []
    for version in versions:
        store.reducer_steps = 0
        start = time.perf_counter()
        store.state(sid, at_version=version)
        times.append(time.perf_counter() - start)
        steps.append(store.reducer_steps)
    baseline_versions = versions[: max(3, runs // 4)]
    baseline = statistics.median(
        [median_time(lambda v=v: StoreCore._build_state(store, sid, v), 1)  # type: ignore[misc]
         for v in baseline_versions]
    )
    at_baseline = statistics.median(
        [median_time(lambda v=v: store.state(sid, at_version=v), 1)  # type: ignore[misc]
         for v in baseline_versions]
    )
    return {"versions": len(versions), "max_steps": max(steps),
            "median_steps": statistics.median(steps), "median_s": statistics.median(times),
            "full_replay_s": baseline, "same_versions_s": at_baseline}


def fork_cost(store: SessionStore, sid: str, runs: int) -> float:
    head = store.current_version(sid)
    store.fork(sid, at_version=head - 1)  # warm up: first reads of the session's rows
    return median_time(lambda: store.fork(sid, at_version=head - 1), runs)


def fork_then_grow(store: SessionStore, sid: str, every: int) -> tuple[float, int]:
    """Fork ``sid`` at its head and append ``every`` + 1 messages to the fork, one per commit
    (its first automatic checkpoint comes among them): the slowest append after the first
    (which reads the parent's state) and the bytes of the fork's checkpoints."""
    fork = store.fork(sid)
    store.add_message(fork, "user", "first turn of the fork")
    slowest = 0.0
    for i in range(every):
        start = time.perf_counter()
        store.add_message(fork, "assistant" if i % 2 else "user", f"exploring {i} " * 40)
        slowest = max(slowest, time.perf_counter() - start)
    return slowest, sum(r.compressed_size for r in store.checkpoints(fork))


def append_overhead(events: int, every: int, runs: int) -> tuple[float, float, float]:
    """Seconds to build a session of ``events`` with automatic checkpoints and without, and
    the share of the first spent encoding and storing checkpoints (timed directly, which
    stays meaningful on a busy machine where the two build times are noisy)."""
    timings: dict[int, list[float]] = {every: [], 10**9: []}
    shares: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            for setting, times in timings.items():
                path = str(Path(tmp) / f"a{run}-{setting}.db")
                with SessionStore(path, durability="normal", checkpoint_every=setting) as store:
                    spent = _time_checkpointing(store)
                    start = time.perf_counter()
                    build(store, events, random.Random(run))
                    times.append(time.perf_counter() - start)
                    if setting == every:
                        shares.append(spent[0] / times[-1])
    return (statistics.median(timings[every]), statistics.median(timings[10**9]),
            statistics.median(shares))


def _time_checkpointing(store: SessionStore) -> list[float]:
    """Wrap the store's checkpoint encoding and storing with a stopwatch; returns its total."""
    spent = [0.0]
    checkpointer = store._checkpointer
    for owner, name in ((checkpointer, "prepare"), (checkpointer.store, "put")):
        original = getattr(owner, name)

        def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(owner, name, timed)
    return spent


def sizes(store: SessionStore, sid: str) -> dict[str, Any]:
    records = store.checkpoints(sid)
    by_id = {r.checkpoint_id: r for r in records}
    newest = records[-1]
    chain = [newest]
    while chain[-1].parent_id is not None:
        chain.append(by_id[chain[-1].parent_id])
    root = max((r for r in records if r.parent_id is None), key=lambda r: r.version)
    raw_json = len(store.state(sid, checkpoint=newest.checkpoint_id).model_dump_json())
    root_json = len(store.state(sid, checkpoint=root.checkpoint_id).model_dump_json())
    # Raw JSON of every checkpointed state, estimated from message counts (building 100
    # states of up to 100,000 messages each would take minutes).
    all_json = raw_json * sum(r.message_count for r in records) / newest.message_count
    events = sum(len(row.state) for row in store._log.stored(sid))
    return {"checkpoints": len(records), "newest_version": newest.version,
            "chain_links": len(chain), "chain_stored": sum(r.compressed_size for r in chain),
            "newest_state_json": raw_json, "root_version": root.version,
            "root_stored": root.compressed_size, "root_msgpack": root.raw_size,
            "root_state_json": root_json, "all_stored": sum(r.compressed_size for r in records),
            "all_states_json": all_json, "events": events,
            "full_roots": sum(1 for r in records if r.parent_id is None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=1000, help="checkpoint_every")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="10,000 events, fewer runs")
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs = 10_000, 5
    rnd = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "replay.db")
        with SessionStore(path, durability="normal", checkpoint_every=args.every) as store:
            start = time.perf_counter()
            small = build(store, 1000, rnd)
            big = build(store, args.events, rnd)
            built = time.perf_counter() - start
            travel = time_travel(store, big, rnd, args.runs)
            fork_small = fork_cost(store, small, args.runs)
            fork_big = fork_cost(store, big, args.runs)
            grown_small = fork_then_grow(store, small, args.every)
            grown_big = fork_then_grow(store, big, args.every)
            size = sizes(store, big)
    with_cp, without_cp, share = append_overhead(args.events // 5, args.every, 3)
    print(f"session: {args.events:,} events, checkpoint_every={args.every} "
          f"(built in {built:.1f}s with store.batch())")
    print(f"time travel to {travel['versions']} random versions: max {travel['max_steps']} "
          f"reducer steps (median {travel['median_steps']:.0f}; bound {args.every}), "
          f"median {travel['median_s'] * 1000:.0f} ms")
    print(f"  vs full replay from the events at the same versions: "
          f"{travel['full_replay_s'] * 1000:.0f} ms against {travel['same_versions_s'] * 1000:.0f}"
          f" ms = {travel['full_replay_s'] / travel['same_versions_s']:.1f}x faster")
    print(f"appends: {args.events // 5:,} events in a batch take {with_cp:.2f}s with automatic "
          f"checkpoints and {without_cp:.2f}s without: {with_cp / without_cp:.2f}x; encoding and "
          f"storing the checkpoints took {share:.1%} of the build")
    print(f"fork: {fork_small * 1000:.2f} ms at 1,000 events, {fork_big * 1000:.2f} ms at "
          f"{args.events:,} events: ratio {fork_big / fork_small:.2f}")
    print(f"  then {args.every:,} appends to the fork: the slowest {grown_small[0] * 1000:.1f} ms "
          f"at 1,000 events, {grown_big[0] * 1000:.1f} ms at {args.events:,}; the fork's "
          f"checkpoints {grown_small[1]:,} B and {grown_big[1]:,} B (deltas of the parent's)")
    print(f"checkpoints: {size['checkpoints']}, {size['full_roots']} of them full roots")
    print(f"  newest full root (v{size['root_version']}): {size['root_stored']:,} B stored, "
          f"{size['root_msgpack']:,} B msgpack, {size['root_state_json']:,} B as raw JSON = "
          f"{size['root_state_json'] / size['root_stored']:.1f}x smaller")
    print(f"  newest checkpoint (v{size['newest_version']}) with its {size['chain_links']}-link "
          f"chain: {size['chain_stored']:,} B stored for {size['newest_state_json']:,} B of "
          f"raw JSON = {size['newest_state_json'] / size['chain_stored']:.1f}x smaller")
    print(f"  all checkpoints: {size['all_stored']:,} B stored against "
          f"{size['all_states_json']:,.0f} B of raw JSON snapshots (estimated) = "
          f"{size['all_states_json'] / size['all_stored']:.0f}x smaller; "
          f"{size['all_stored'] / size['newest_state_json']:.2f}x one raw JSON state, "
          f"{size['all_stored'] / size['events']:.2f}x the session's stored events "
          f"({size['events']:,} B)")


if __name__ == "__main__":
    main()
