"""The Merkle tree code against RFC 9162: published vectors, known roots, and a naive
recursive reading of the RFC's definitions compared by Hypothesis."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abs_registry.translog import merkle
from abs_registry.translog.merkle import InvalidProof

VECTORS = Path(__file__).parent / "data" / "rfc9162"
VECTOR_FILES = sorted(VECTORS.rglob("*.json"))


def b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def test_all_196_vectors_are_here_with_their_license():
    assert len(VECTOR_FILES) == 196
    assert "Apache License" in (VECTORS / "LICENSE").read_text()


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: str(p.relative_to(VECTORS)))
def test_verifier_agrees_with_every_vector(path):
    case = json.loads(path.read_text())
    proof = [b64(p) for p in case["proof"] or []]
    if "size1" in case:
        def verify():
            merkle.verify_consistency(case["size1"], case["size2"], b64(case["root1"]),
                                      b64(case["root2"]), proof)
    else:
        def verify():
            merkle.verify_inclusion(b64(case["leafHash"]), case["leafIdx"], case["treeSize"],
                                    proof, b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(InvalidProof):
            verify()
    else:
        verify()


# transparency-dev/merkle testonly/constants.go: the roots of the first 1..8 of these leaves.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
                                     "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_known_roots_and_the_empty_tree():
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    tree = merkle.TreeBuilder()
    assert tree.root() == merkle.EMPTY_ROOT
    for leaf, root in zip(LEAVES, ROOTS, strict=True):
        tree.append(merkle.leaf_hash(leaf))
        assert tree.root().hex() == root
    hashes = [merkle.leaf_hash(leaf) for leaf in LEAVES]
    for size, root in enumerate(ROOTS, start=1):
        assert merkle.root_hash(size, memory_fetch(hashes)).hex() == root
        assert mth(hashes[:size]).hex() == root


# --- the RFC's definitions, read literally (section 2.1) ------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return merkle.EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return merkle.node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def memory_fetch(hashes: list[bytes]):
    def fetch(nodes):
        return {(level, pos): mth(hashes[pos << level:(pos + 1) << level])
                for level, pos in nodes}
    return fetch


def leaf_hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=300, deadline=None)
@given(st.data(), sizes)
def test_inclusion_proofs_match_the_rfc_and_verify(data, size):
    hashes = leaf_hashes(size)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, memory_fetch(hashes))
    assert proof == path(index, hashes)
    root = mth(hashes)
    merkle.verify_inclusion(hashes[index], index, size, proof, root)
    if size > 1:
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(hashes[index], (index + 1) % size, size, proof, root)
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(hashes[index], index, size, [*proof, root], root)


@settings(max_examples=300, deadline=None)
@given(st.data(), sizes)
def test_consistency_proofs_match_the_rfc_and_verify(data, second):
    hashes = leaf_hashes(second)
    first = data.draw(st.integers(1, second))
    proof = merkle.consistency_proof(first, second, memory_fetch(hashes))
    assert proof == subproof(first, hashes, True)
    first_root, second_root = mth(hashes[:first]), mth(hashes)
    merkle.verify_consistency(first, second, first_root, second_root, proof)
    if first < second:
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(first, second, first_root, second_root, flipped)
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(first, second, second_root, first_root, proof)
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(first, second, first_root, second_root, proof[:-1])


@settings(max_examples=100, deadline=None)
@given(sizes)
def test_tree_builder_completes_each_perfect_subtree_with_its_last_leaf(size):
    hashes = leaf_hashes(size)
    tree = merkle.TreeBuilder()
    for index, leaf in enumerate(hashes):
        completed = tree.append(leaf)
        end = index + 1
        levels = (end & -end).bit_length() - 1  # trailing zeros of index + 1
        assert completed == [mth(hashes[end - (1 << level):end])
                             for level in range(1, levels + 1)]
        assert tree.root() == mth(hashes[:end])
    resumed = merkle.TreeBuilder(size, [mth(hashes[start:end]) for start, end in (
        (pos << level, (pos + 1) << level) for level, pos in merkle.perfect_subtrees(0, size))])
    assert resumed.root() == tree.root()


# --- refusals ---------------------------------------------------------------------------------


def test_hashes_of_another_length_are_refused():
    hashes = leaf_hashes(5)
    root = mth(hashes)
    proof = path(2, hashes)
    merkle.verify_inclusion(hashes[2], 2, 5, proof, root)
    for bad in (b"", root[:31], root + b"\x00"):
        with pytest.raises(InvalidProof, match="32-byte"):
            merkle.verify_inclusion(bad, 2, 5, proof, root)
        with pytest.raises(InvalidProof, match="32-byte"):
            merkle.verify_inclusion(hashes[2], 2, 5, proof, bad)
        with pytest.raises(InvalidProof, match="32-byte"):
            merkle.verify_inclusion(hashes[2], 2, 5, [proof[0], bad, *proof[2:]], root)
        with pytest.raises(InvalidProof, match="32-byte"):
            merkle.verify_consistency(3, 5, bad, root, subproof(3, hashes, True))


def test_consistency_from_size_zero_is_refused():
    root = mth(leaf_hashes(4))
    for second, proof in ((0, []), (4, []), (4, [root])):
        with pytest.raises(InvalidProof, match="size 0"):
            merkle.verify_consistency(0, second, merkle.EMPTY_ROOT, root, proof)
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, 4, memory_fetch(leaf_hashes(4)))
    with pytest.raises(ValueError):
        merkle.inclusion_proof(4, 4, memory_fetch(leaf_hashes(4)))
