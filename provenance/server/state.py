"""What every request of one server process shares (the ledger, the committer, settings),
and the cache of immutable tiles."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance import Ledger, Record, SubmissionError, Submitted
    from provenance.server.committer import GroupCommitter
    from provenance.server.cosigning import Cosigner
    from provenance.server.settings import ServeSettings


class TileCache:
    """Full C2SP tiles and entry bundles, least recently used first out, at most
    ``max_bytes`` in all. Only full tiles go in: they never change once the log has them
    (a partial one grows), so a cached one is always the right answer."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._size = 0
        self._items: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[str, int], data: bytes) -> None:
        if len(data) > self._max:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(data) - (len(old) if old is not None else 0)
            self._items[key] = data
            while self._size > self._max:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


@dataclass
class ServerState:
    """What every request of one server process shares."""

    settings: ServeSettings
    ledger: Ledger
    committer: GroupCommitter | None = None
    cosigner: Cosigner | None = None
    namespace: str = "provenance"
    extra: dict[str, Any] = field(default_factory=dict)
    tiles: TileCache = field(default_factory=lambda: TileCache(0))

    async def commit(self, record: Record) -> Submitted | SubmissionError:
        assert self.committer is not None
        return await asyncio.wrap_future(self.committer.submit(record))
