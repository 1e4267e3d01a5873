"""Read models: plain SQLite tables derived from the event log (see ``schema``), kept current
by the ``Projector`` (``projector``, ``batch``) and read by thin queries (``queries``, ``api``).
"""
