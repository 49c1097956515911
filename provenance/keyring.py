"""The ledger's key registry: register, revoke, list and look up signer keys.

A mixin of :class:`provenance.ledger.Ledger` (one job, its own module). Key registration and
revocation are records signed by the log key (ADR 0003); the store re-checks every rule
under its append lock (the log key is never a signer, names are unique, a key is registered
and revoked at most once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from provenance.errors import KeyStateError, LogIntegrityError, NotFoundError
from provenance.keys import PublicKey, SigningKey, load_public_key_file
from provenance.receipts import KeyInfo, now_text
from provenance.records import (
    KeyRef,
    Record,
    Statement,
    check_key_name,
    parse_record,
    sign_statement,
)

if TYPE_CHECKING:
    from provenance.store import Store


class _Core(Protocol):
    store: Store
    log_public: PublicKey

    def log_signer(self) -> SigningKey: ...

    def append_records(
        self, records: Sequence[Record], *, dedupe: bool = True
    ) -> list[tuple[int, bool]]: ...

    def key(self, ref: str) -> KeyInfo: ...

    def list_keys(self) -> list[KeyInfo]: ...


class KeyRegistry:
    """Signer keys, as the log records them."""

    def register_key(
        self: _Core, public: PublicKey, name: str, *, now: datetime | None = None
    ) -> tuple[int, str, bool]:
        """Register ``public`` under ``name`` (a ``key`` record signed by the log key).

        Returns (index, record id, created): registering the same key under the same name
        again is "already done" (created False), like signing a logged image.

        Raises:
            KeyStateError: the log key itself; a name or key registered otherwise.
            RecordError: an invalid name.
        """
        check_key_name(name)
        if public.key_id == self.log_public.key_id:
            raise KeyStateError(
                "the log key cannot be registered as a signer",
                hint="signers need keys of their own: provenance keys generate NAME",
            )
        reg, _ = self.store.key_events(public.key_id)
        if reg is not None:
            existing = self.key(public.key_id)
            if existing.name == name:
                return reg, "sha256:" + self.store.record_at(reg).rid.hex(), False
            raise KeyStateError(
                f"key {public.key_id} is already registered as {existing.name!r} (record {reg})"
            )
        holder = self.store.key_by_name(name)
        if holder is not None:
            raise KeyStateError(
                f"the name {name!r} is already taken by key {holder}",
                hint="names are unique in a ledger: choose another with --name",
            )
        st = Statement(
            type="key",
            time=now_text(now),
            key=KeyRef(id=public.key_id, public=public.openssh(), name=name),
        )
        rec = sign_statement(st, self.log_signer())
        [(idx, _)] = self.append_records([rec], dedupe=False)
        return idx, rec.record_id, True

    def revoke_key(
        self: _Core,
        key_id: str,
        *,
        reason: str | None = None,
        now: datetime | None = None,
        by: SigningKey | None = None,
    ) -> tuple[int, str]:
        """Append a ``revoke`` record, signed by the log key or by the key itself (``by``)."""
        key_id = self.key(key_id).key_id
        reg, rev = self.store.key_events(key_id)
        if reg is None:
            raise KeyStateError(f"key {key_id} is not registered in this ledger")
        if rev is not None:
            raise KeyStateError(f"key {key_id} was already revoked (record {rev})")
        claims = {"reason": reason} if reason else {}
        st = Statement(type="revoke", time=now_text(now), key=KeyRef(id=key_id), claims=claims)
        if by is not None and by.public.key_id != key_id:
            raise KeyStateError("a key can only revoke itself; the log key revokes any key")
        signer: SigningKey = by if by is not None else self.log_signer()
        rec = sign_statement(st, signer)
        [(idx, _)] = self.append_records([rec], dedupe=False)
        return idx, rec.record_id

    def list_keys(self: _Core) -> list[KeyInfo]:
        out = []
        rows = self.store.key_rows()
        bodies = self.store.records_at(i for _, i, _, _ in rows)
        for key_id, idx, name, rev in rows:
            st = parse_record(bodies[idx].body).statement
            if st.key is None or st.type != "key":
                raise LogIntegrityError(
                    f"key index row {key_id} points at record {idx}, a {st.type} record"
                )
            out.append(KeyInfo(key_id, name, st.key.public or "", idx, rev))
        return out

    def key(self: _Core, ref: str) -> KeyInfo:
        """A registered key by key id, name, or key file (``.pub`` or private).

        Raises:
            NotFoundError: no such key in this ledger.
        """
        keys = self.list_keys()
        for k in keys:
            if ref in (k.key_id, k.name):
                return k
        if not ref.startswith("SHA256:") and Path(ref).is_file():
            key_id = load_public_key_file(ref).key_id
            for k in keys:
                if k.key_id == key_id:
                    return k
            raise NotFoundError(f"the key in {ref} ({key_id}) is not registered in this ledger")
        raise NotFoundError(
            f"no key {ref[:80]!r} in this ledger",
            hint="give a key id, a name or a key file; `provenance keys list` shows them",
        )

    def require_usable(self: _Core, key: SigningKey) -> None:
        reg, rev = self.store.key_events(key.public.key_id)
        if key.public.key_id == self.log_public.key_id:
            raise KeyStateError("the log key signs checkpoints and key records, not images")
        if reg is None:
            raise KeyStateError(
                f"key {key.public.key_id} is not registered in this ledger",
                hint="register it first: provenance keys register KEYFILE",
            )
        if rev is not None:
            raise KeyStateError(f"key {key.public.key_id} was revoked (record {rev})")

    def signer_of(self: _Core, idx: int) -> tuple[str, str | None]:
        rec = parse_record(self.store.record_at(idx).body)
        names = {k: n for k, _, n, _ in self.store.key_rows()}
        return rec.signer, names.get(rec.signer)
