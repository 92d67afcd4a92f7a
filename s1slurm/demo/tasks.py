"""The demo's problems: walks around letter rings, with a worked trace and one exact answer.

A problem names a ring, a start letter and a number of hops (1 to 9)::

    lower: from d, 6 hops of 3

and its answer is the letter reached (here ``v``: d, g, j, m, p, s, v). The trace writes one line
per hop, counting down the hops left and naming the letter reached::

    6 g
    5 j
    ...
    1 v

so a problem of n hops has a trace of n lines and its answer is the letter on the last one. A
capped trace forces an answer before the walk is done, and the letter reached so far is not the
answer: that is what makes thinking budgets matter (the test-time scaling the demo shows). Each
ring has its own alphabet and hop length, so every line follows from the line above alone (the
next count is one less, the next letter a fixed step further): a Llama of a few hundred thousand
parameters learns that from a few hundred examples on a CPU, whereas jumping straight to the
answer would need ``start + hops x step``, which it never sees.

* ``lower``: a-z, hops of 3 (a ring of 26);
* ``upper``: A-Z, hops of 5 (a ring of 26);
* ``greek``: α-ω, hops of 7 (a ring of 24).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_STEPS = 9  # the countdown stays one digit


@dataclass(frozen=True)
class Problem:
    """One generated problem with its worked trace and exact answer."""

    domain: str
    question: str
    trace: str
    answer: str
    steps: int

    @property
    def key(self) -> str:
        """What makes two problems the same (used to keep the evaluation set disjoint)."""
        return self.question


@dataclass(frozen=True)
class Ring:
    """One family of problems: an alphabet walked in hops of a fixed length."""

    name: str
    letters: str
    hop: int

    def walk(self, start: str, steps: int) -> list[str]:
        """The letters reached after each hop."""
        i = self.letters.index(start)
        return [self.letters[(i + self.hop * k) % len(self.letters)] for k in range(1, steps + 1)]

    def problem(self, start: str, steps: int) -> Problem:
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}")
        reached = self.walk(start, steps)
        trace = "\n".join(f"{steps - k} {letter}" for k, letter in enumerate(reached))
        question = f"{self.name}: from {start}, {steps} hops of {self.hop}"
        return Problem(self.name, question, trace, reached[-1], steps)


DOMAINS: dict[str, Ring] = {
    "lower": Ring("lower", "abcdefghijklmnopqrstuvwxyz", 3),
    "upper": Ring("upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 5),
    "greek": Ring("greek", "αβγδεζηθικλμνξοπρστυφχψω", 7),
}


def all_problems(
    domains: tuple[str, ...] = tuple(DOMAINS), min_steps: int = 1, max_steps: int = MAX_STEPS
) -> list[Problem]:
    """Every distinct problem of these domains and step counts."""
    return [
        DOMAINS[d].problem(start, n)
        for d in domains
        for start in DOMAINS[d].letters
        for n in range(min_steps, max_steps + 1)
    ]


def generate(
    count: int,
    *,
    seed: int,
    min_steps: int = 1,
    max_steps: int = MAX_STEPS,
    domains: tuple[str, ...] = tuple(DOMAINS),
    exclude: set[str] | None = None,
) -> list[Problem]:
    """``count`` distinct problems drawn without replacement, domains in turn (balanced).

    Problems whose question is in ``exclude`` are never drawn, so a second call that excludes the
    first call's questions gives a disjoint set. Raises ValueError when there are not enough.
    """
    rng = random.Random(seed)
    skip = exclude or set()
    per_domain = {
        d: [p for p in all_problems((d,), min_steps, max_steps) if p.key not in skip] for d in domains
    }
    for group in per_domain.values():
        rng.shuffle(group)
    available = sum(len(g) for g in per_domain.values())
    if count > available:
        raise ValueError(
            f"only {available} distinct problems with {min_steps}-{max_steps} hops in "
            f"{', '.join(domains)}; asked for {count}"
        )
    out: list[Problem] = []
    while len(out) < count:
        for d in domains:
            if per_domain[d] and len(out) < count:
                out.append(per_domain[d].pop())
    return out
