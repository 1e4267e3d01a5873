"""Side-by-side benchmarks of sessionstore against the session stores users already know.

``python -m benchmarks`` (or ``make bench``) runs the suite, prints a table and writes it as
JSON to ``benchmarks/results/``. Every figure is a median of several runs and is shown as a
ratio against raw ``sqlite3`` at the same durability setting, measured in the same run.
The workload and the adapters (one per system) live in ``benchmarks.peers``.
"""
