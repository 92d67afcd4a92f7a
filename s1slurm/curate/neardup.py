"""Near-duplicate questions across sources: MinHash signatures and LSH from ``datasketch``.

Each question (normalised as for decontamination) is shingled into word n-grams (3 by default: one
word changed in a 20-word question still leaves a Jaccard similarity near 0.7, text-dedup's default
threshold) and signed with MinHash. Rows are visited in order (the collect order: sources as listed
in the spec); a row whose signature matches an earlier *kept* row at or above the threshold
(candidates from LSH, confirmed with the estimated Jaccard similarity) is a near-duplicate of it and
removed; otherwise it is kept and indexed. The result names each cluster by its kept row.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from s1slurm.core.errors import MissingDependencyError


def shingles(text: str, n: int) -> list[bytes]:
    """Distinct word n-grams of the normalised text (the whole text when it has fewer words)."""
    words = text.lower().split()
    if len(words) <= n:
        return [" ".join(words).encode("utf-8")]
    return list({" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)})


@dataclass
class NearDups:
    """``duplicate_of[id]``: the kept row a removed one duplicates (with the estimated similarity);
    ``clusters[kept id]``: the ids removed in its favour."""

    duplicate_of: dict[str, tuple[str, float]] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)


def near_duplicates(
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    threshold: float = 0.7,
    num_perm: int = 128,
    shingle: int = 3,
    seed: int = 1,
) -> NearDups:
    """Find near-duplicates among ``texts`` (first occurrence kept)."""
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        raise MissingDependencyError("datasketch", "curate") from None
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept: dict[str, MinHash] = {}
    out = NearDups()
    # zlib.crc32: a 32-bit hash computed in C and the same in every process (datasketch's default is
    # SHA-1 through a Python function, several times slower per shingle)
    signatures = MinHash.bulk(
        (shingles(t, shingle) for t in texts), num_perm=num_perm, seed=seed, hashfunc=zlib.crc32
    )
    for row_id, sig in zip(ids, signatures):
        best: tuple[float, str] | None = None
        for other in lsh.query(sig):
            similarity = sig.jaccard(kept[other])
            if similarity >= threshold and (best is None or similarity > best[0]):
                best = (similarity, other)
        if best is None:
            lsh.insert(row_id, sig, check_duplication=False)
            kept[row_id] = sig
        else:
            out.duplicate_of[row_id] = (best[1], round(best[0], 4))
            out.clusters.setdefault(best[1], []).append(row_id)
    return out
