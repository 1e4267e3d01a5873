"""The projection worker: keeps a read-model file current while other processes write.

``follow`` uses push where the backend offers it: the eventsourcing library's
``subscribe()``, which on PostgreSQL wakes on ``LISTEN``/``NOTIFY`` and hands over the new
notifications it read. Where ``subscribe()`` is not implemented (SQLite) it polls.

Either way the projector applies events in its own transactions (rows and position
together), so a worker killed at any moment and restarted neither loses nor repeats an
event. Several workers may follow one store, each with its own read-model file.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from eventsourcing.persistence import Notification

from ..domain.errors import BackendError
from ..storage.log import EventLog, Recorded
from .projector import Progress, Projector

BUFFER = 5000  # notifications held in memory before the subscription waits for us


class PushedSource:
    """A ``NotificationSource`` fed by a library subscription, falling back to the log.

    The subscription yields every notification after ``position`` exactly once, in order.
    The projector asks for "everything after my position"; while that position is the last
    one this source handed out, the answer is the next buffered items. If the position is
    anything else (a batch rolled back, another worker shares the file, a rebuild), the
    answer comes from the log, and buffered items up to it are skipped later.
    """

    def __init__(self, log: EventLog, subscription: Any, position: int) -> None:
        self.log = log
        self.subscription = subscription
        self.delivered = position
        self.arrived = threading.Event()
        self.error: BaseException | None = None
        self._buffer: queue.Queue[Notification] = queue.Queue(maxsize=BUFFER)
        self._stopping = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump, name="ss-push", daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        try:
            for notification in self.subscription:
                while not self._stopping.is_set():
                    try:
                        self._buffer.put(notification, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                self.arrived.set()
        except BaseException as e:  # a lost connection: reported by the next read
            self.error = e
            self.arrived.set()

    def _check(self) -> None:
        if self.error is not None:
            raise BackendError(f"the push subscription stopped: {self.error}; restart the worker")

    def notifications(self, start: int, limit: int) -> list[Recorded]:
        self._check()
        if start - 1 != self.delivered:
            items = self.log.notifications(start, limit)
        else:
            items = [Recorded(n.id, self.log.codec.decode(n)) for n in self._take(start, limit)]
        if items:
            self.delivered = items[-1].notification_id
        return items

    def _take(self, start: int, limit: int) -> list[Notification]:
        taken: list[Notification] = []
        while len(taken) < limit:
            try:
                notification = self._buffer.get_nowait()
            except queue.Empty:
                break
            if notification.id >= start:  # earlier ones were already read from the log
                taken.append(notification)
        return taken

    def max_notification_id(self) -> int:
        self._check()  # woken by a failure: report it rather than wait for the next event
        return self.log.max_notification_id()

    def close(self) -> None:
        self._stopping.set()
        self.subscription.stop()
        self._pump_thread.join(timeout=5)


def subscribe(log: EventLog, position: int) -> PushedSource | None:
    """A pushed source after ``position``, or None when the backend cannot push."""
    try:
        subscription = log.recorder.subscribe(gt=position)
    except NotImplementedError:
        return None
    return PushedSource(log, subscription, position)


def follow(
    projector: Projector,
    log: EventLog,
    *,
    poll: float = 0.5,
    until_idle: float | None = None,
    duration: float | None = None,
    on_batch: Progress | None = None,
) -> int:
    """Keep ``projector`` current with ``log``; returns the events applied.

    Stops after ``until_idle`` seconds with nothing new or after ``duration`` seconds
    (None: run until interrupted). With push, ``poll`` is only how often the stop
    conditions are checked; without it, the polling interval.
    """
    pushed = subscribe(log, projector.position())
    if pushed is None:
        return projector.follow(poll=poll, until_idle=until_idle, duration=duration,
                                on_batch=on_batch)
    polling_source = projector.source
    projector.source = pushed
    def wait_for_push(timeout: float) -> None:
        # Clearing after the wait is safe: the next step catches up on whatever arrived.
        pushed.arrived.wait(timeout=timeout)
        pushed.arrived.clear()

    try:
        return projector.follow(poll=poll, until_idle=until_idle, duration=duration,
                                on_batch=on_batch, wait=wait_for_push)
    finally:
        projector.source = polling_source
        pushed.close()
