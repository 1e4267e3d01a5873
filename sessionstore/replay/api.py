"""The replay half of ``SessionStore`` (checkpoints, time travel, forks, diff, what-if)."""

from __future__ import annotations


class ReplayMixin:
    """Checkpoints and time travel. Mixed into ``SessionStore``."""

    def _init_replay(self, checkpoint_every: int) -> None:
        self.checkpoint_every = checkpoint_every
