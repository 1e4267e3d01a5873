"""The event log: codec, hash chain, recorders (SQLite by default, PostgreSQL by URL)."""
