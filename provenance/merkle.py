"""RFC 9162 Merkle tree math for the log: hashing, node addresses, proofs, the compact range.

This module owns the arithmetic of the log's Merkle tree and nothing else: no I/O, no
storage, only :mod:`hashlib`. It has three parts, after transparency-dev/merkle:

* hashing (RFC 9162 section 2.1.1): ``leaf_hash`` = SHA-256(0x00 || data) and
  ``node_hash`` = SHA-256(0x01 || left || right). The two prefixes keep leaves and interior
  nodes apart, so the 64-byte preimage of an interior node can never pass as a leaf;
* proof addresses: which leaf ranges, and which stored complete subtrees
  (``NodeID`` = (level, index)), make up an inclusion proof PATH(index, D[size]) or a
  consistency proof PROOF(size1, D[size2]). A store fetches those nodes and folds each
  range with :func:`fold_range`; it never needs to know the recursion;
* verification, each check with a twin that returns the computed root
  (``root_from_inclusion_proof`` / ``verify_inclusion``, ``root_from_consistency_proof`` /
  ``verify_consistency``), and :class:`CompactRange`, the in-memory frontier that emits
  every complete subtree exactly once as leaves are appended.

Errors: anything that can come from untrusted input (indices, sizes, proofs, hashes handed
to a verifier) raises :class:`~provenance.errors.MerkleError`; a well-formed proof that
leads to another root raises :class:`~provenance.errors.RootMismatchError`. A wrong Python
type raises ``TypeError``. Sizes and indices are uint64, as in RFC 9162. Every hash that
enters a computation must be 32 bytes; an expected root is only compared, so a malformed
one simply mismatches (as in transparency-dev/merkle).

Consistency from an empty tree (size1 == 0 < size2) is rejected with ``MerkleError``:
RFC 9162 section 2.1.4.1 defines PROOF(m, D[n]) only for 0 < m < n, and the verification
algorithm of section 2.1.4.2 starts from "0 < first < second" and fails on an empty
consistency_path, so there is no RFC proof to verify (transparency-dev/merkle agrees; the
C2SP CCTV vectors instead accept an empty proof). An empty tree's root is EMPTY_ROOT and
every log starts from it; a caller that holds a size-0 checkpoint checks its root against
EMPTY_ROOT and needs no proof. size1 == size2 (0 included) needs an empty proof and equal
roots, and the root of size 0 must be EMPTY_ROOT.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from provenance.errors import MerkleError, RootMismatchError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size (and leaf index + 1) accepted: tree sizes are uint64 in RFC 9162."""

NodeID: TypeAlias = tuple[int, int]
"""(level, index): the complete subtree of 2**level leaves starting at leaf index * 2**level."""

_KEY_SHIFT = 56
_MAX_LEVEL = 127  # (127 << 56) | (2**56 - 1) < 2**63: fits a signed 64-bit INTEGER


# --- hashing ------------------------------------------------------------------------------
def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- node addresses -----------------------------------------------------------------------
def node_key(level: int, index: int) -> int:
    """Pack a NodeID into one int that fits a signed 64-bit SQLite INTEGER PRIMARY KEY.

    The key is ``level << 56 | index``; keys sort by level, then index.

    Raises:
        ValueError: if level is not in [0, 127] or index not in [0, 2**56).
    """
    if not 0 <= level <= _MAX_LEVEL or not 0 <= index < 1 << _KEY_SHIFT:
        raise ValueError(f"node ({level}, {index}) cannot be packed into a key")
    return level << _KEY_SHIFT | index


def node_from_key(key: int) -> NodeID:
    """Unpack a key made by :func:`node_key`.

    Raises:
        ValueError: if key is negative or does not fit 63 bits.
    """
    if not 0 <= key < 1 << 63:
        raise ValueError(f"node key out of range: {key}")
    return key >> _KEY_SHIFT, key & ((1 << _KEY_SHIFT) - 1)


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """Decompose the leaf range [begin, end) into maximal complete subtrees, left to right.

    This is the compact range of [begin, end). For begin == 0 it is the frontier of the tree
    of size ``end``: one node per set bit of ``end``, largest first.

    Raises:
        MerkleError: if not 0 <= begin <= end <= MAX_TREE_SIZE.
    """
    _check_size(begin, "begin")
    _check_size(end, "end")
    if begin > end:
        raise MerkleError(f"invalid leaf range: begin {begin} > end {end}")
    nodes: list[NodeID] = []
    while begin < end:
        # The largest level to which begin is aligned and which still fits in the range.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """Return MTH of a leaf range given the hashes of its :func:`range_nodes`, in order.

    Precondition: the range is left-aligned, as every range in an RFC 9162 proof and every
    frontier is: its begin is a multiple of the smallest power of two >= its length, so its
    nodes have strictly decreasing levels and MTH is the right fold
    node_hash(h0, node_hash(h1, ... node_hash(h[-2], h[-1]))). Any other range (say [1, 3))
    is no subtree of the RFC's tree and its fold means nothing.

    Raises:
        ValueError: if hashes is empty (an empty range is not part of any proof).
    """
    if not hashes:
        raise ValueError("fold_range needs at least one hash")
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root_from_frontier(hashes: Sequence[bytes]) -> bytes:
    """Return a tree's root from the hashes of ``range_nodes(0, size)`` (EMPTY_ROOT if none)."""
    return fold_range(hashes) if hashes else EMPTY_ROOT


# --- proof addresses ----------------------------------------------------------------------
def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where the RFC splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges [a, b) whose MTHs form PATH(index, D[size]), bottom-up.

    This is the order of RFC 9162 section 2.1.3.1 (the sibling of the leaf first).

    Raises:
        MerkleError: if not 0 <= index < size <= MAX_TREE_SIZE.
    """
    _check_size(index, "index")
    _check_size(size, "size")
    if index >= size:
        raise MerkleError(f"index is beyond size: {index} >= {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def consistency_proof_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Return the leaf ranges [a, b) whose MTHs form PROOF(size1, D[size2]), in RFC order.

    Empty when size1 == size2. When size1 is not a power of two the first range ends at
    size1 (it is the subtree the verifier starts from); every other range either ends at or
    before that subtree's start (it also contributes to root1) or starts at or after size1.

    Raises:
        MerkleError: if size1 > size2, or size1 == 0 < size2 (no proof exists: see the
            module docstring), or a size is out of range.
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise MerkleError(f"size1 ({size1}) > size2 ({size2})")
    if size1 == size2:
        return []
    if size1 == 0:
        raise MerkleError("consistency proof from an empty tree is not defined (RFC 9162 2.1.4)")
    upper: list[tuple[int, int]] = []  # collected top-down, emitted bottom-up
    lo, hi, known = 0, size2, True  # known: the subtree [lo, size1) is root1 itself
    while size1 < hi:
        mid = lo + _split(hi - lo)
        if size1 <= mid:
            upper.append((mid, hi))
            hi = mid
        else:
            upper.append((lo, mid))
            lo, known = mid, False
    upper.reverse()
    return upper if known else [(lo, hi), *upper]


def inclusion_proof_nodes(index: int, size: int) -> list[list[NodeID]]:
    """Return, per proof element of PATH(index, D[size]), the stored nodes to fold."""
    return [range_nodes(a, b) for a, b in inclusion_proof_ranges(index, size)]


def consistency_proof_nodes(size1: int, size2: int) -> list[list[NodeID]]:
    """Return, per proof element of PROOF(size1, D[size2]), the stored nodes to fold."""
    return [range_nodes(a, b) for a, b in consistency_proof_ranges(size1, size2)]


# --- verification -------------------------------------------------------------------------
def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Return the root that an inclusion proof for leaf ``index`` of a tree of ``size`` gives.

    Raises:
        MerkleError: if index >= size, a hash is not 32 bytes, or the proof has the wrong
            number of elements.
    """
    ranges = inclusion_proof_ranges(index, size)
    _check_hash(leaf_hash, "leaf hash")
    _check_proof(proof, len(ranges))
    result = leaf_hash
    for (_, end), sibling in zip(ranges, proof, strict=True):
        result = node_hash(sibling, result) if end <= index else node_hash(result, sibling)
    return result


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Raises:
        MerkleError: if the proof or its arguments are malformed.
        RootMismatchError: if the proof leads to another root.
    """
    _check_match(root, root_from_inclusion_proof(index, size, leaf_hash, proof))


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """Check that a consistency proof reproduces ``root1`` and return the root of size2.

    Raises:
        MerkleError: if the sizes or proof are malformed (size1 > size2, size1 == 0 <
            size2, a non-empty proof for size1 == size2, wrong number of elements, a hash
            not 32 bytes).
        RootMismatchError: if the proof does not reproduce root1 (for size1 == 0, if root1
            is not EMPTY_ROOT).
    """
    ranges = consistency_proof_ranges(size1, size2)
    _check_proof(proof, len(ranges))
    if size1 == size2:
        if size1 == 0:
            _check_match(root1, EMPTY_ROOT)
        return root1
    _check_hash(root1, "root1")
    known = size1 & (size1 - 1) == 0  # a power of two: the proof omits root1 itself
    seed, rest = (root1, proof) if known else (proof[0], proof[1:])
    hash1 = hash2 = seed
    for (begin, _), sibling in zip(ranges[len(ranges) - len(rest) :], rest, strict=True):
        if begin < size1:  # left of the path: part of both trees
            hash1 = node_hash(sibling, hash1)
            hash2 = node_hash(sibling, hash2)
        else:  # right of the path: only in the larger tree
            hash2 = node_hash(hash2, sibling)
    _check_match(root1, hash1)
    return hash2


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of size2 with root2 extends the tree of size1 with root1.

    Raises:
        MerkleError: if the proof or its arguments are malformed.
        RootMismatchError: if the proof leads to another root1 or root2.
    """
    _check_match(root2, root_from_consistency_proof(size1, size2, proof, root1))


# --- compact range ------------------------------------------------------------------------
class CompactRange:
    """The frontier of a tree: hashes of ``range_nodes(0, size)``, enough to append and root.

    Append is O(log n) and returns every complete subtree it completes, so a store that
    persists exactly those nodes holds each (level, index) of the tree once.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Rebuild a frontier from stored hashes of ``range_nodes(0, size)``, in order.

        Raises:
            MerkleError: if the size is out of range, the number of hashes is not the
                number of frontier nodes, or a hash is not 32 bytes (corrupt storage).
        """
        _check_size(size, "size")
        if len(hashes) != size.bit_count():
            raise MerkleError(
                f"frontier has wrong size: expected {size.bit_count()}, got {len(hashes)}"
            )
        for h in hashes:
            _check_hash(h, "frontier hash")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Hashes of :meth:`nodes`, left to right."""
        return tuple(self._hashes)

    def nodes(self) -> list[NodeID]:
        """The frontier's node ids: ``range_nodes(0, size)``."""
        return range_nodes(0, self._size)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeID, bytes]]:
        """Append a leaf hash; return the leaf node and every parent it completes, bottom-up.

        Raises:
            ValueError: if leaf_hash is not 32 bytes.
            MerkleError: if the tree is full (MAX_TREE_SIZE leaves).
        """
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        if self._size >= MAX_TREE_SIZE:
            raise MerkleError("tree is full")
        level, index, result = 0, self._size, leaf_hash
        created = [((level, index), result)]
        while index & 1:  # a right child: merge with the left sibling at the frontier's end
            result = node_hash(self._hashes.pop(), result)
            level, index = level + 1, index >> 1
            created.append(((level, index), result))
        self._hashes.append(result)
        self._size += 1
        return created

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[NodeID, bytes]]:
        """Append several leaf hashes; return all nodes created, in creation order."""
        return [node for h in leaf_hashes for node in self.append(h)]

    def root(self) -> bytes:
        """The tree's root hash (EMPTY_ROOT when empty)."""
        return root_from_frontier(self._hashes)

    def copy(self) -> CompactRange:
        """An independent copy."""
        return CompactRange(self._size, self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


# --- argument checks ----------------------------------------------------------------------
def _check_size(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MerkleError(f"{name} out of range: {value}")


def _check_hash(value: object, name: str) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise MerkleError(f"{name} has wrong size: expected {HASH_SIZE}, got {len(value)}")


def _check_proof(proof: Sequence[bytes], want: int) -> None:
    if len(proof) != want:
        raise MerkleError(f"proof has wrong size: expected {want}, got {len(proof)}")
    for i, element in enumerate(proof):
        _check_hash(element, f"proof[{i}]")


def _check_match(expected: bytes, calculated: bytes) -> None:
    if calculated != expected:
        raise RootMismatchError(expected, calculated)
