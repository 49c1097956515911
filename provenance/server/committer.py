"""Group commit: many submissions, one transaction, one checkpoint, each answered after the
commit is durable.

Submissions queue up; a single committer thread per server process takes whatever is
waiting (up to ``batch_max``, waiting at most ``batch_wait_s`` for more to join), appends
the batch with :meth:`provenance.Ledger.submit` (one store transaction, ``synchronous=FULL``
on SQLite) and only then resolves each submission's future. Several processes (workers, or
servers on one PostgreSQL) serialise on the store's append lock. An acknowledged record is
never lost: the acknowledgement follows the commit.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance import Ledger, Record
    from provenance.publishing import SubmissionError, Submitted


log = logging.getLogger("provenance.server.committer")


class GroupCommitter:
    """The committer thread of one server process."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_max: int,
        batch_wait_s: float,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._max = batch_max
        self._wait = batch_wait_s
        self._on_commit = on_commit
        self._queue: queue.Queue[tuple[Record, Future[Submitted | SubmissionError]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="provenance-commit", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> Future[Submitted | SubmissionError]:
        future: Future[Submitted | SubmissionError] = Future()
        self._queue.put((record, future))
        return future

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self._wait
            stopping = False
            while len(batch) < self._max:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(remaining, 0))
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[tuple[Record, Future[Submitted | SubmissionError]]]) -> None:
        # A waiter that went away (its request was cancelled) cancelled its future: leave
        # its record out. The others are marked running, so they can no longer be
        # cancelled and resolving them cannot fail (which would kill this thread).
        batch = [
            (record, future) for record, future in batch if future.set_running_or_notify_cancel()
        ]
        if not batch:
            return
        try:
            results = self._ledger.submit([record for record, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
        if self._on_commit is not None:
            try:
                self._on_commit()
            except Exception:  # a cosigner failure must never stop the log
                log.exception("the commit hook failed")
