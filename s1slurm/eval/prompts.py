"""Prompts: the benchmark prompt templates and the conditional-control prompts of the s1 paper.

The default user message is the bare question (s1's evaluation tasks send the problem alone, with
``--apply_chat_template``); the instruction prompts remain available by name in
:data:`PROMPT_TEMPLATES` (``prompt_template: boxed`` in a benchmark of an eval spec).

The conditional-control methods (paper, section 4.1 and appendix) add a sentence to the question:
the budget in tokens (token-conditional), the number of steps (step-conditional), or a generic
"think briefly / think thoroughly" instruction (class-conditional). Each wording is a field of
:class:`ConditionPrompts`, so an eval spec can change it under ``prompts:``.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from s1slurm.config.cluster import Strict
from s1slurm.eval.records import BudgetSetting

PROMPT_TEMPLATES: dict[str, str] = {
    # the s1 default: the question alone (for multiple choice: the question and its lettered choices)
    "bare": "{question}",
    # the instruction prompts s1slurm used before it followed s1's evaluation
    "boxed": "{question}\n\nPlease reason step by step, and put your final answer within \\boxed{}.",
    "mcq_boxed": (
        "{question}\n\nAnswer with the letter of the correct choice: put only the letter "
        "({letters}) of your final answer within \\boxed{}."
    ),
    "mcq_answer_line": (
        "{question}\n\nThe last line of your response should be of the form "
        "'Answer: LETTER' where LETTER is one of {letters}."
    ),
}
DEFAULT_TEMPLATE = "bare"


def template_text(name_or_text: str | None) -> str:
    """The template for a name of :data:`PROMPT_TEMPLATES`, a template text (with ``{question}``)
    as given, and the default for None."""
    if name_or_text is None:
        return PROMPT_TEMPLATES[DEFAULT_TEMPLATE]
    return PROMPT_TEMPLATES.get(name_or_text, name_or_text)


class ConditionPrompts(Strict):
    """Wordings of the conditional-control prompts; ``{question}`` is the benchmark's user message."""

    token: str = Field(
        "{question}\n\nThink for up to {tokens} tokens.",
        description="token-conditional control; {tokens}: the stated budget",
    )
    # s1 eval/lm-evaluation-harness/lm_eval/tasks/aime/utils.py line 12 (PROMPTSTEP)
    step: str = Field(
        "{question}\n\nThink for up to {steps} steps.",
        description="step-conditional control (the paper's); {steps}",
    )
    step_injected: str = Field(
        "{question}\n\nThink for up to {steps} steps (each step is about {step_tokens} tokens).",
        description="injected steps (not the paper's); {steps}, {step_tokens}",
    )
    step_marker: str = Field(
        "\n{left} steps left\n", description="injected steps: appended after each step; {left}: steps left"
    )
    short: str = Field(
        "{question}\n\nAnswer after a short amount of thinking. Do not spend excessive "
        "time double-checking your work.",
        description="class-conditional: short",
    )
    long: str = Field(
        "{question}\n\nAnswer after a long amount of thinking. If you feel like you are "
        "finished early, spend the extra time trying to double-check your work until you "
        "are absolutely sure that you have the correct answer.",
        description="class-conditional: long",
    )

    @field_validator("token", "step", "step_injected", "short", "long")
    @classmethod
    def _has_question(cls, v: str) -> str:
        if "{question}" not in v:
            raise ValueError("must contain the placeholder {question}")
        return v


def conditioned(question: str, setting: BudgetSetting, prompts: ConditionPrompts | None = None) -> str:
    """The user message for ``setting``: the benchmark's message, with the method's condition.

    Placeholders are replaced literally (no ``str.format``), so braces such as ``\\boxed{}`` stay."""
    p = prompts or ConditionPrompts()
    kind, _ = setting.prompt_variant
    if kind == "tokens":
        text = p.token.replace("{tokens}", str(setting.stated_tokens))
    elif kind in ("steps", "steps_injected"):
        text = (
            (p.step if kind == "steps" else p.step_injected)
            .replace("{steps}", str(setting.stated_steps))
            .replace("{step_tokens}", str(setting.step_tokens))
        )
    elif kind == "class":
        text = p.short if setting.thinking_class == "short" else p.long
    else:
        return question
    return text.replace("{question}", question)


def step_marker(prompts: ConditionPrompts | None, left: int) -> str:
    """The text stating the steps left after a step of step-conditional thinking."""
    return (prompts or ConditionPrompts()).step_marker.replace("{left}", str(left))
