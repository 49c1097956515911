"""Asking witnesses to cosign the log's checkpoints (C2SP tlog-witness, client side).

One background thread per server process. After each commit it is woken; it takes the
*latest* checkpoint (a burst of commits costs one round per witness, not one per commit),
and asks each configured witness to cosign it with a consistency proof from the size that
witness last cosigned (a 409 answer tells the real size: asked again once). A witness that
answers garbage or nothing is logged and retried at the next commit, and never stops the
log. A returned line is kept only if it is a well-formed cosignature/v1 line that leaves
the checkpoint a well-formed note: readers verify it against the witness keys they trust
(``verify --witness-key``), so a witness can add its signature but never break the
checkpoint. ``GET /checkpoint`` serves the checkpoint with the cosignatures kept for it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance import Ledger

log = logging.getLogger("provenance.server.cosigning")


class Cosigner:
    """Keeps every configured witness cosigning the latest checkpoint."""

    def __init__(self, ledger: Ledger, witnesses: tuple[str, ...], *, timeout: float = 5.0):
        self._ledger = ledger
        self._witnesses = witnesses
        self._timeout = timeout
        self._sizes: dict[str, int] = dict.fromkeys(witnesses, 0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="provenance-cosign", daemon=True)
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self._timeout * 2)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every witness was asked about the latest checkpoint (for tests)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            cp = self._ledger.checkpoint()
            if cp is not None:
                for url in self._witnesses:
                    self._ask(url, cp.size, cp.note)
            if not self._wake.is_set():
                self._idle.set()

    def _ask(self, url: str, size: int, note: str) -> None:
        from provenance.errors import ProvenanceError
        from provenance.witness import WitnessConflict, request_cosignature

        def proof_from(old: int) -> list[bytes]:
            return self._ledger.consistency(old, size)[0] if 0 < old < size else []

        old = self._sizes[url]
        if old >= size and old != 0:
            return
        try:
            lines = request_cosignature(
                url, old, proof_from(old), note, timeout=self._timeout, proof_from=proof_from
            )
        except ProvenanceError as exc:
            log.warning("witness %s did not cosign checkpoint %d: %s", url, size, exc)
            return
        if isinstance(lines, WitnessConflict):
            log.warning("witness %s is at size %d, past checkpoint %d", url, lines.size, size)
            self._sizes[url] = lines.size
            return
        for line in lines:
            name = _cosignature_name(note, line)
            if name is None:
                log.warning("witness %s answered a malformed cosignature line", url)
                continue
            self._ledger.add_cosignature(size, name, line)
        self._sizes[url] = size


def _cosignature_name(note: str, line: str) -> str | None:
    """The witness name of a well-formed cosignature/v1 line, else None."""
    from provenance.checkpoint import parse_note
    from provenance.errors import CheckpointError

    if not line.endswith("\n") or line.count("\n") != 1:
        return None
    try:
        _, signatures = parse_note(note + line)
    except CheckpointError:
        return None
    last = signatures[-1]
    return last.name if len(last.signature) == 8 + 64 else None
