"""Test-only reference Merkle tree, written straight from RFC 9162 section 2.1.

Recursive and slow on purpose: each function is the RFC's definition transcribed, over the
list of leaf inputs D[n], so that provenance.merkle (iterative, node-addressed) can be
cross-checked against the text rather than against itself. Never import this from the
library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH = hashlib.sha256


def _k(n: int) -> int:
    """The largest power of two smaller than n (section 2.1.1: k < n <= 2k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]), section 2.1.1."""
    n = len(d)
    if n == 0:
        return HASH(b"").digest()  # MTH({}) = HASH()
    if n == 1:
        return HASH(b"\x00" + d[0]).digest()  # MTH({d(0)}) = HASH(0x00 || d(0))
    k = _k(n)
    return HASH(b"\x01" + mth(d[0:k]) + mth(d[k:n])).digest()


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), section 2.1.3.1: the inclusion proof for leaf m (0 <= m < n)."""
    n = len(d)
    assert 0 <= m < n
    if n == 1:
        return []  # PATH(0, {d(0)}) = {}
    k = _k(n)
    if m < k:
        return [*path(m, d[0:k]), mth(d[k:n])]  # PATH(m, D[0:k]) : MTH(D[k:n])
    return [*path(m - k, d[k:n]), mth(d[0:k])]  # PATH(m - k, D[k:n]) : MTH(D[0:k])


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), section 2.1.4.1 (0 < m < n)."""
    assert 0 < m < len(d)
    return subproof(m, d, True)


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), section 2.1.4.1."""
    n = len(d)
    if m == n:
        # {} if m is the size PROOF was requested for (its MTH is known), else {MTH(D[m])}.
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
        return [*subproof(m, d[0:k], b), mth(d[k:n])]
    # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
    return [*subproof(m - k, d[k:n], False), mth(d[0:k])]
