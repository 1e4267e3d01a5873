"""Projection benchmarks: incremental catch-up, throughput and query latency.

    python -m benchmarks.bench_projections            # 1,000 sessions x 100 messages
    python -m benchmarks.bench_projections --quick    # a small smoke run

What it shows:
- catching up 1,000 new events costs the same after 10,000 and after 100,000 events already
  projected (the ratio of the two medians should be about 1);
- projection throughput in events/s (bulk catch-up, and per 1,000-event catch-up);
- the read-your-writes check when nothing is new;
- query latency at 100,000 messages over 1,000 sessions for ``history(limit=50)``,
  ``sessions(status=...)`` and ``search``, with baselines measured in the same run:
  history against rebuilding the session's state from the event log, search against a
  ``LIKE`` scan of the same messages table.

Every figure is the median of several runs. The store uses ``durability="normal"``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sessionstore import SessionStore

STATUSES = ("active", "idle", "completed")


def vocabulary(size: int, rnd: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({"".join(rnd.choices(letters, k=rnd.randint(4, 9))) for _ in range(size)})


class Workload:
    """Sessions of user/assistant messages built with batch writes."""

    def __init__(self, store: SessionStore, seed: int = 7) -> None:
        self.store = store
        self.rnd = random.Random(seed)
        self.words = vocabulary(2000, self.rnd)
        self.ids: list[str] = []

    def text(self) -> str:
        return " ".join(self.rnd.choices(self.words, k=12))

    def add_sessions(self, count: int, messages: int) -> None:
        for start in range(0, count, 20):
            with self.store.batch():
                for _ in range(start, min(count, start + 20)):
                    self._session(len(self.ids), messages)

    def _session(self, n: int, messages: int) -> None:
        sid = self.store.create_session(f"session {n}", agent_id="main")
        self.store.change_status(sid, "active")
        for i in range(messages):
            self.store.add_message(sid, "assistant" if i % 2 else "user", self.text(),
                                   tokens_in=12, tokens_out=20 if i % 2 else None)
        status = STATUSES[n % len(STATUSES)]
        if status == "idle":
            self.store.change_status(sid, "idle")
        elif status == "completed":
            self.store.complete(sid, result="done")
        self.ids.append(sid)

    def open_ids(self) -> list[str]:
        return [sid for i, sid in enumerate(self.ids) if STATUSES[i % 3] != "completed"]

    def add_events(self, count: int, sessions: int) -> None:
        """``count`` new messages over ``sessions`` random open sessions, in one batch.

        The same number of sessions is touched whatever the store's size, so that only the
        events already projected differ between the small and the big catch-up."""
        touched = self.rnd.sample(self.open_ids(), sessions)
        with self.store.batch():
            for i in range(count):
                self.store.add_message(touched[i % len(touched)], "user", self.text())


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_time(action: Callable[[], Any], runs: int) -> float:
    return statistics.median(timed(action) for _ in range(runs))


def catch_up_costs(small: Workload, big: Workload, runs: int,
                   new: int) -> tuple[list[float], list[float]]:
    """Append ``new`` events to each store, then time catching up on them; ``runs`` times.

    The two stores take turns (and swap who goes first), so a machine that gets busier or
    quieter during the run affects both sides alike."""
    costs: dict[int, list[float]] = {id(small): [], id(big): []}
    touched = min(50, len(small.open_ids()))
    for run in range(runs):
        for w in (small, big) if run % 2 == 0 else (big, small):
            w.add_events(new, touched)
            costs[id(w)].append(timed(w.store.catch_up))
    return costs[id(small)], costs[id(big)]


def query_latencies(w: Workload, runs: int) -> dict[str, float]:
    store, rnd = w.store, random.Random(11)
    sample = rnd.sample(w.ids, min(runs, len(w.ids)))
    words = rnd.sample(w.words, runs)
    db = store.views_db
    it = iter(range(10**9))

    def history() -> None:
        store.history(sample[next(it) % len(sample)], limit=50)

    def history_from_log() -> None:
        store._build_state(sample[next(it) % len(sample)]).messages[-50:]

    def search() -> None:
        store.search(words[next(it) % len(words)], limit=20)

    def like(limit: str) -> Callable[[], None]:
        def scan() -> None:
            word = words[next(it) % len(words)]
            list(db.query("SELECT session_id, version FROM messages WHERE content LIKE ? "
                          f"{limit}", [f"%{word}%"]))
        return scan

    return {
        "history(limit=50)": median_time(history, runs),
        "history baseline: state from the event log": median_time(history_from_log, runs),
        "sessions(status='idle')": median_time(lambda: store.sessions(status="idle"), runs),
        "sessions(status='active', limit=10)": median_time(
            lambda: store.sessions(status="active", limit=10), runs),
        "search(word, limit=20)": median_time(search, runs),
        "search baseline: LIKE scan, all matches": median_time(like(""), runs),
        "search baseline: LIKE scan, first 20 unranked": median_time(like("LIMIT 20"), runs),
        "read-your-writes check, nothing new": median_time(store.catch_up, runs),
    }


def run(sessions: int, messages: int, runs: int, new: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        small = Workload(SessionStore(str(Path(tmp) / "small.db"), durability="normal"), seed=3)
        small.add_sessions(max(1, sessions // 10), messages)
        small.store.catch_up()
        projected_small = small.store.projector.position()

        big = Workload(SessionStore(str(Path(tmp) / "big.db"), durability="normal"))
        big.add_sessions(sessions, messages)
        pending = big.store.projector.behind()
        bulk = timed(big.store.catch_up)
        projected_big = big.store.projector.position()

        after_small, after_big = catch_up_costs(small, big, runs, new)
        messages_total = big.store.views_db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        queries = query_latencies(big, max(runs * 10, 50))
        small.store.close()
        big.store.close()
    small_median, big_median = statistics.median(after_small), statistics.median(after_big)
    return {
        "sessions": sessions, "messages": messages_total, "runs": runs, "new_events": new,
        "catch_up": {
            f"after {projected_small} events (s)": small_median,
            f"after {projected_big} events (s)": big_median,
            "ratio big/small": big_median / small_median,
        },
        "throughput": {
            f"bulk catch-up of {pending} events (events/s)": pending / bulk,
            f"catch-up of {new} events, median (events/s)": new / big_median,
        },
        "queries_ms": {k: v * 1000 for k, v in queries.items()},
        "query_ratios": {
            "history / state from log": queries["history(limit=50)"]
            / queries["history baseline: state from the event log"],
            "search (FTS, ranked) / LIKE scan of all matches": queries["search(word, limit=20)"]
            / queries["search baseline: LIKE scan, all matches"],
            "search (FTS, ranked) / LIKE first 20 unranked": queries["search(word, limit=20)"]
            / queries["search baseline: LIKE scan, first 20 unranked"],
        },
    }


def render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("figure", "value", title=(
        f"projections: {result['sessions']} sessions, {result['messages']} messages, "
        f"medians of {result['runs']}+ runs"))
    for section in ("catch_up", "throughput", "queries_ms", "query_ratios"):
        for key, value in result[section].items():
            table.add_row(f"{section}: {key}", f"{value:,.4f}" if value < 100 else f"{value:,.0f}")
    Console().print(table)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100, help="messages per session")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--new", type=int, default=1000, help="new events per catch-up run")
    parser.add_argument("--quick", action="store_true", help="100 sessions x 20 messages")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.messages, args.runs, args.new = 100, 20, 3, 200
    result = run(args.sessions, args.messages, args.runs, args.new)
    render(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
