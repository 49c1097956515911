"""What every request of one server process shares (the ledger, the committer, settings)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance import Ledger, Record, SubmissionError, Submitted
    from provenance.server.committer import GroupCommitter
    from provenance.server.cosigning import Cosigner
    from provenance.server.settings import ServeSettings


@dataclass
class ServerState:
    """What every request of one server process shares."""

    settings: ServeSettings
    ledger: Ledger
    committer: GroupCommitter | None = None
    cosigner: Cosigner | None = None
    namespace: str = "provenance"
    extra: dict[str, Any] = field(default_factory=dict)

    async def commit(self, record: Record) -> Submitted | SubmissionError:
        assert self.committer is not None
        return await asyncio.wrap_future(self.committer.submit(record))
