"""The strings that frame a model's thinking and its answer: one definition for evaluation (budget
forcing), curation (splitting a teacher's output into thinking and attempt) and training data.

Two presets:

- ``s1``: s1's format, ``<|im_start|>think`` ... ``<|im_start|>answer`` (s1 ``train/sft.py`` and
  ``eval/lm-evaluation-harness/lm_eval/models/vllm_causallms.py``: ``until_thinking`` is the single
  token ``<|im_start|>``).
- ``r1``: models that think inside ``<think>`` ... ``</think>`` and answer after it (DeepSeek-R1 and its
  distills, QwQ, Qwen3; s1K-1.1's traces come from DeepSeek-R1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PresetName = Literal["s1", "r1"]


@dataclass(frozen=True)
class DelimiterText:
    """The strings that frame thinking and answer (defaults: s1's format)."""

    thinking_start: str = "<|im_start|>think\n"
    thinking_end: tuple[str, ...] = ("<|im_start|>",)  # s1's until_thinking: one token
    answer_start: str = "<|im_start|>answer\n"
    final_answer: str = "Final Answer:"

    def split(self, text: str) -> tuple[str, str]:
        """A whole assistant output (thinking, end of thinking, answer) as ``(thinking, answer)``.

        The opening delimiter is dropped when present; thinking runs to the first ``answer_start``, else
        to the first ``thinking_end``; with neither, everything is thinking and the answer is empty."""
        body = text[len(self.thinking_start) :] if text.startswith(self.thinking_start) else text
        stripped = self.thinking_start.strip()
        if stripped and body.lstrip().startswith(stripped):
            body = body.lstrip()[len(stripped) :]
        for marker in (self.answer_start.strip(), *self.thinking_end):
            if marker and marker in body:
                thinking, _, answer = body.partition(marker)
                return thinking.strip(), answer.strip()
        return body.strip(), ""


PRESETS: dict[str, DelimiterText] = {
    "s1": DelimiterText(),
    # R1's answer follows "</think>\n\n"; ending thinking by force appends the closing tag itself (after
    # a cut, budget forcing puts a newline before it unless the thinking ends with one, so the tag
    # stays on a line of its own as in R1's outputs). Chat templates of R1 distills and Qwen3 that
    # already end the generation prompt with "<think>\n" get no second one (Forcing.prompt_ids).
    "r1": DelimiterText(thinking_start="<think>\n", thinking_end=("</think>",), answer_start="</think>\n\n"),
}
