"""s1's own budget-forcing loop, written out plainly on token ids, to check ours against.

It follows the loop of the simplescaling/s1 README (stop at the end-of-thinking *token*, append
"Wait" and continue, subtract what was used from the budget) with none of s1slurm's code: no
stop scanner, no rounds, no replay. It only handles single-token delimiters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Generate = Callable[[list[int], int, Sequence[int]], list[int]]  # (context, max new ids, stop ids)


def s1_loop(
    generate: Generate,
    prompt: Sequence[int],
    cap: int,
    num_ignore: int,
    wait_ids: Sequence[int],
    stop_ids: Sequence[int],
) -> tuple[list[int], int, str]:
    """(thinking ids, times Wait was appended, "natural" | "budget")."""
    thinking: list[int] = []
    forced = 0
    while True:
        left = cap - len(thinking)
        if left <= 0:
            return thinking, forced, "budget"
        out = generate(list(prompt) + thinking, left, stop_ids)
        if not (out and out[-1] in stop_ids):
            return thinking + out[:left], forced, "budget"
        thinking += out[:-1]
        if forced >= num_ignore:
            return thinking, forced, "natural"
        if len(thinking) + len(wait_ids) > cap:
            return thinking, forced, "budget"
        thinking += list(wait_ids)
        forced += 1
