"""Word n-gram decontamination against evaluation sets.

The rule is s1's (simplescaling/s1, data/decontaminate_util.py and data/collect_data.py
``decontaminate_train_data(..., ngram_size=8)``): lower-case the text, collapse white space, split
into words, and drop a training question that shares any word n-gram (n = 8) with a benchmark
question. Here the index keeps, for every benchmark n-gram, which benchmark item it came from, so
that each removal names the item and the n-gram that matched.

Speed: n-grams are tuples of words built with ``zip`` and checked with ``dict.keys().isdisjoint``,
so the common case (no match) runs in C without joining strings; only a hit is examined in Python.
Texts shorter than n words have no n-gram: for them the whole normalised text is looked up as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def normalize(text: str) -> str:
    """Lower case, white space collapsed (s1's ``normalize_string``)."""
    return " ".join(text.lower().split())


def _grams(words: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(words[i:] for i in range(n)))


@dataclass(frozen=True)
class Item:
    """One benchmark item: where it comes from, and whether its text must never be shown (GPQA)."""

    benchmark: str
    item_id: str
    redact: bool = False


@dataclass(frozen=True)
class Match:
    """Why a text is contaminated: the benchmark item and the (normalised) n-gram they share."""

    item: Item
    ngram: str


class NgramIndex:
    """Every word n-gram of the benchmark texts, each with the first item that has it."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = n
        self._grams: dict[tuple[str, ...], Item] = {}
        self._whole: dict[str, Item] = {}
        self.items = 0

    def add(self, item: Item, text: str) -> None:
        words = text.lower().split()
        self.items += 1
        self._whole.setdefault(" ".join(words), item)
        for gram in _grams(words, self.n):
            self._grams.setdefault(gram, item)

    def __len__(self) -> int:
        return len(self._grams)

    def match(self, text: str) -> Match | None:
        """The first n-gram of ``text`` found in the index (None: clean)."""
        words = text.lower().split()
        grams = self._grams
        if not grams.keys().isdisjoint(_grams(words, self.n)):
            for gram in _grams(words, self.n):
                item = grams.get(gram)
                if item is not None:
                    return Match(item, " ".join(gram))
        if len(words) < self.n:
            whole = " ".join(words)
            item = self._whole.get(whole)
            if item is not None:
                return Match(item, whole)
        return None
