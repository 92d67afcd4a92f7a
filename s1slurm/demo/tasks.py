"""The demo's problems: short modular computations with a worked trace and one exact answer.

Every problem starts from a value and applies one rule a given number of times; the trace writes
one line per step with its operands, ``<step>:<value><op><parameter>=<new value>`` (``3:4+7=1``), so a problem of n
steps has a trace of n lines and its answer is the last value. A capped trace forces an answer
before the work is done, which is what makes thinking budgets matter (the test-time scaling the
demo shows). The rules never return to a value in fewer than 10 steps, so a cut trace's last value
is almost never the answer by chance. The domains differ in the rule:

* ``add``: x -> x + k (mod 10), k in 1, 3, 7, 9;
* ``mul``: x -> x * g (mod 11), g a generator (2, 6, 7, 8) of the non-zero residues;
* ``clock``: x -> x + k (mod 12), k in 1, 5, 7, 11;
* ``fib``: (a, b) -> (b, a + b) (mod 10); the line shows both values, the answer is the second.

Each step reads only the line above it and one parameter of the question, so a Llama of a few
hundred thousand parameters learns the rules from a few thousand examples on a CPU.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

MAX_STEPS = 20


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
class Domain:
    """One family of problems: draw a start and a parameter, step the state, word the question.

    A state is a pair (previous value, value); ``line`` writes one step with its operands, so that
    each line reads only the line above it and the question's parameter.
    """

    name: str
    draw: Callable[[random.Random], tuple[tuple[int, int], int]]    # -> (start state, parameter)
    step: Callable[[tuple[int, int], int], tuple[int, int]]         # (state, parameter) -> state
    line: Callable[[tuple[int, int], int, tuple[int, int]], str]    # (state, parameter, new state)
    question: Callable[[tuple[int, int], int, int], str]            # (start, parameter, steps)


DOMAINS: dict[str, Domain] = {
    "add": Domain(
        "add", lambda r: ((0, r.randrange(10)), r.choice((1, 3, 7, 9))),
        lambda s, k: (s[1], (s[1] + k) % 10),
        lambda s, k, t: f"{s[1]}+{k}={t[1]}",
        lambda s, k, n: f"add: start {s[1]}, add {k} mod 10, {n} times"),
    "mul": Domain(
        "mul", lambda r: ((0, r.randrange(1, 11)), r.choice((2, 6, 7, 8))),
        lambda s, g: (s[1], (s[1] * g) % 11),
        lambda s, g, t: f"{s[1]}*{g}={t[1]}",
        lambda s, g, n: f"mul: start {s[1]}, times {g} mod 11, {n} times"),
    "clock": Domain(
        "clock", lambda r: ((0, r.randrange(12)), r.choice((1, 5, 7, 11))),
        lambda s, k: (s[1], (s[1] + k) % 12),
        lambda s, k, t: f"{s[1]}+{k}={t[1]}",
        lambda s, k, n: f"clock: start {s[1]}, add {k} mod 12, {n} times"),
    "fib": Domain(
        "fib", lambda r: ((r.randrange(10), r.randrange(1, 10)), 0),
        lambda s, _: (s[1], (s[0] + s[1]) % 10),
        lambda s, _, t: f"{s[0]}+{s[1]}={t[1]}",
        lambda s, _, n: f"fib: start {s[0]} {s[1]}, mod 10, {n} times"),
}


def make_problem(domain: Domain, steps: int, rng: random.Random) -> Problem:
    """One problem of ``domain`` with ``steps`` steps (1 to MAX_STEPS)."""
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}")
    state, param = domain.draw(rng)
    question = domain.question(state, param, steps)
    lines = []
    for i in range(1, steps + 1):
        new = domain.step(state, param)
        lines.append(f"{i}:{domain.line(state, param, new)}")
        state = new
    return Problem(domain.name, question, "\n".join(lines), str(state[1]), steps)


def generate(count: int, *, seed: int, min_steps: int, max_steps: int,
             domains: tuple[str, ...] = tuple(DOMAINS), exclude: set[str] | None = None) -> list[Problem]:
    """``count`` distinct problems, domains in turn, step counts uniform in [min_steps, max_steps].

    Problems whose question is in ``exclude`` (or already drawn) are drawn again, so two calls
    with disjoint seeds and ``exclude`` give disjoint sets.
    """
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[Problem] = []
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > count * 50:
            raise ValueError(f"cannot draw {count} distinct problems with {min_steps}-{max_steps} steps")
        domain = DOMAINS[domains[len(out) % len(domains)]]
        p = make_problem(domain, rng.randint(min_steps, max_steps), rng)
        if p.key in seen:
            continue
        seen.add(p.key)
        out.append(p)
    return out
