"""Who may sign what, judged by log position: the rules the verifier and the audit share.

A ``key`` record signed by the log key registers a signer's public key (the first one for a
key id counts); a ``revoke`` record, signed by the log key or by the key itself, revokes it.
A record's signature is acceptable when its signer was registered at an earlier log index
and not revoked at an earlier index; the log key signs only ``key`` and ``revoke`` records
and is never itself registered as a signer, and only the log key registers keys or revokes
keys other than the signer (ADR 0003). A breach of these roles is a ``role`` failure.

:class:`KeyBook` can be fed a whole evidence set before judging (the verifier) or record by
record while streaming (the audit): judging index ``i`` depends only on events below ``i``.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from provenance.errors import KeyFileError
from provenance.keys import PublicKey
from provenance.records import Record

Failure = Literal["untrusted", "revoked", "invalid", "role"]
SIGNATURE_INVALID = "signature does not verify"

FAILURE_CODES: dict[str, str] = {
    "untrusted": "signingCredential.untrusted",
    "revoked": "signingCredential.revoked",
    "invalid": "claimSignature.mismatch",
    "role": "signingCredential.role",
}
"""Each failure's reason code (:data:`provenance.report.REASONS`)."""


@dataclass(slots=True)
class KeyState:
    """One signer key as the log records it."""

    public: PublicKey | None  # None: the registration's public key is unusable
    name: str | None
    registered: int
    revoked: int | None = None


@dataclass(slots=True)
class KeyBook:
    """Key registrations and revocations seen so far, keyed by key id."""

    log_key: PublicKey
    keys: dict[str, KeyState] = field(default_factory=dict)

    def observe(self, idx: int, rec: Record) -> None:
        """Take note of a key event (registrations and revocations; other records pass)."""
        st = rec.statement
        if st.key is None:
            return
        if st.type == "key" and rec.signer == self.log_key.key_id:
            if st.key.id not in self.keys and st.key.id != self.log_key.key_id:
                self.keys[st.key.id] = KeyState(_public(st.key.public, st.key.id), st.key.name, idx)
        elif st.type == "revoke":
            state = self.keys.get(st.key.id)
            if (
                state is not None
                and state.revoked is None
                and rec.signer in (self.log_key.key_id, st.key.id)
            ):
                state.revoked = idx

    def judge(self, idx: int, rec: Record) -> tuple[Failure, str] | None:
        """None when the record at ``idx`` is properly signed, else (failure, detail)."""
        expected = self.expected_signer(idx, rec)
        if not isinstance(expected, PublicKey):
            return expected
        if not expected.verify(rec.sig, rec.statement.canonical()):
            return "invalid", SIGNATURE_INVALID
        return None

    def expected_signer(self, idx: int, rec: Record) -> PublicKey | tuple[Failure, str]:
        """The key whose signature the record at ``idx`` must carry, or why no key may
        sign it (the signature check itself can then run elsewhere: the audit's worker)."""
        st = rec.statement
        if rec.signer == self.log_key.key_id:
            if st.type not in ("key", "revoke"):
                return "role", "the log key signs only key and revoke records"
            if st.type == "key" and st.key is not None and st.key.id == self.log_key.key_id:
                return "role", "the log key cannot be registered as a signer"
            return self.log_key
        state = self.keys.get(rec.signer)
        if state is None or state.registered >= idx or state.public is None:
            return "untrusted", f"signer {rec.signer} is not registered before it"
        if state.revoked is not None and state.revoked < idx:
            return "revoked", f"signer {rec.signer} was revoked at record {state.revoked}"
        if st.type == "key" or (
            st.type == "revoke" and st.key is not None and st.key.id != rec.signer
        ):
            return "role", "only the log key registers keys or revokes other keys"
        return state.public


def _public(text: str | None, key_id: str) -> PublicKey | None:
    """The registered public key, or None when it does not parse or match its key id."""
    try:
        pub = PublicKey.parse(text or "")
    except KeyFileError:
        return None
    return pub if pub.key_id == key_id else None
