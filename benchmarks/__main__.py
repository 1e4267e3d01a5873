"""``python -m benchmarks``: the side-by-side suite. ``--help`` for sizes, runs and peers."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .peers.report import print_tables, write_json
from .peers.suite import peer_classes, results_dir, run_suite

OTHERS = ("bench_projections", "bench_replay", "bench_writers", "bench_import", "bench_stages",
          "bench_floor")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[2_000, 20_000],
                        help="session sizes in messages (default: 2000 20000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--durability", nargs="+", default=["full", "normal"],
                        choices=["full", "normal"])
    parser.add_argument("--systems", nargs="+", default=None,
                        help="only these systems (raw sqlite3 always runs)")
    parser.add_argument("--out", type=Path, default=results_dir(), help="folder for the JSON")
    parser.add_argument("--others", action="store_true",
                        help="also run the other benchmarks/bench_*.py modules present")
    return parser.parse_args(argv)


def run_others() -> None:
    """The per-feature benchmarks other parts contribute, each in its own process."""
    here = Path(__file__).resolve().parent
    for name in OTHERS:
        if (here / f"{name}.py").exists():
            print(f"== benchmarks.{name}")
            subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False)


def main(argv: list[str] | None = None) -> Path:
    args = parse(argv)
    available = ", ".join(c.name for c in peer_classes())
    print(f"systems: {available}; sizes {args.n}; {args.runs} runs each")
    figures = run_suite(args.n, args.durability, args.runs, args.systems)
    print_tables(figures)
    path = write_json(figures, args.out, runs=args.runs)
    print(f"JSON written to {path}")
    if args.others:
        run_others()
    return path


if __name__ == "__main__":
    main()
