"""provenance: an image provenance ledger.

Sign images at capture, record every edit, and verify a downloaded copy against an
append-only RFC 9162 Merkle log with signed C2SP checkpoints. The library API is
:class:`provenance.ledger.Ledger` (writing and lookups) and :mod:`provenance.verify`
(the pure verifier); ``provenance.cli`` is a thin click layer over both.
"""

__version__ = "0.1.0"
