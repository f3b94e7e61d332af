"""RFC 9162 Merkle trees: hashing, proof generation and proof verification.

Written here because no well-kept Python library exposes RFC 9162 proofs in the standard
audit-path format (see /work/shared/TRUST.md); tests hold it to the transparency-dev/merkle
vectors and to a naive recursive reading of the RFC.

Proof generation never hashes the leaves. A tree node over leaves [start, end) is made of
*perfect subtrees* (sizes that are powers of two), named ``(level, position)`` for leaves
[position * 2**level, (position + 1) * 2**level). Those never change once complete, so a
store can keep them; the generators here ask the caller's ``fetch`` for the O(log n)
perfect subtrees a proof needs, in one call, and fold them into the proof's hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, position) of a perfect subtree
Fetch = Callable[[Collection[Node]], Mapping[Node, bytes]]


class InvalidProof(ValueError):
    """A proof, root or hash that does not verify; the message says why."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size >= 2): RFC 9162's k."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up the tree node over leaves [start, end), left first."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        assert start % (1 << level) == 0, "not a node of a left-balanced tree"
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a node from its perfect subtrees (left first): the right one nests deepest."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]): the sibling ranges from the leaf up to the root."""
    ranges, start, end = [], 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), deepest range first."""
    ranges, start, end, whole = [], 0, second, True
    while first != end:  # m = first - start leaves of D[start:end] are the old tree
        k = _split(end - start)
        if first - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((start, end))
    return ranges[::-1]


def _hashes_of(ranges: list[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    parts = [perfect_subtrees(start, end) for start, end in ranges]
    found = fetch({node for part in parts for node in part})
    return [fold([found[node] for node in part]) for part in parts]


def root_hash(size: int, fetch: Fetch) -> bytes:
    return _hashes_of([(0, size)], fetch)[0] if size else EMPTY_ROOT


def inclusion_nodes(index: int, size: int) -> set[Node]:
    """The perfect subtrees of the leaf, its audit path and the root of ``size``."""
    ranges = [(index, index + 1), *_inclusion_ranges(index, size), (0, size)]
    return {node for start, end in ranges for node in perfect_subtrees(start, end)}


def consistency_nodes(first: int, second: int) -> set[Node]:
    """The perfect subtrees of a consistency proof and of both its roots."""
    ranges = [*_consistency_ranges(first, second), (0, first), (0, second)]
    return {node for start, end in ranges for node in perfect_subtrees(start, end)}


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    return _hashes_of(_inclusion_ranges(index, size), fetch)


def consistency_proof(first: int, second: int, fetch: Fetch) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    return _hashes_of(_consistency_ranges(first, second), fetch)


def _require_hashes(**hashes: bytes) -> None:
    for name, value in hashes.items():
        if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
            raise InvalidProof(f"{name} is not a {HASH_SIZE}-byte hash")


def _require_proof(proof: Sequence[bytes]) -> None:
    for i, value in enumerate(proof):
        _require_hashes(**{f"proof[{i}]": value})


def _shift_while_right_child(fn: int, sn: int) -> tuple[int, int]:
    while not fn & 1 and fn:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> None:
    """RFC 9162 2.1.3.2; raises InvalidProof unless ``leaf`` is at ``index`` under ``root``."""
    _require_hashes(leaf_hash=leaf, root=root)
    _require_proof(proof)
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_right_child(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the proof is shorter than the tree is deep")
    if r != root:
        raise InvalidProof("the proof leads to another root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2; raises InvalidProof unless tree ``first`` is a prefix of ``second``.

    A proof from size 0 is refused: every tree extends the empty one, so it proves nothing
    and a client that asks for one has a bug. Equal sizes need no hashing, only the same
    root twice; there, as in transparency-dev/merkle and its vectors, the roots are compared
    as given, whatever their length.
    """
    _require_proof(proof)
    if first < 1:
        raise InvalidProof("a consistency proof from size 0 proves nothing")
    if second < first:
        raise InvalidProof(f"size {second} is smaller than size {first}")
    if first == second:
        if proof:
            raise InvalidProof("equal sizes take an empty proof")
        if first_root != second_root:
            raise InvalidProof("equal sizes with different roots")
        return
    _require_hashes(first_root=first_root, second_root=second_root)
    if not proof:
        raise InvalidProof("the proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_right_child(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the proof is shorter than the tree is deep")
    if fr != first_root:
        raise InvalidProof("the proof does not lead to the first root")
    if sr != second_root:
        raise InvalidProof("the proof does not lead to the second root")


class TreeBuilder:
    """Grows a tree leaf by leaf, keeping only the perfect subtrees on its right edge.

    ``append`` answers the perfect subtrees each new leaf completes, which is what a store
    keeps to answer proofs later; memory stays O(log n), so a million leaves stream through.
    """

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()):
        if len(edge) != size.bit_count():
            raise ValueError("the right edge needs one hash per set bit of the size")
        self.size = size
        self._edge = list(edge)  # perfect subtrees of perfect_subtrees(0, size), left first

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf hash; answer the subtrees it completes, from level 1 upward."""
        completed, node, size = [], leaf, self.size
        while size & 1:
            node = node_hash(self._edge.pop(), node)
            completed.append(node)
            size >>= 1
        self._edge.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return fold(self._edge)
