"""Models that think in ``<think>...</think>`` (DeepSeek-R1 distills, QwQ, Qwen3): the ``r1`` delimiter
preset with budget forcing and "Wait", on a small tokenizer that has both tags as tokens."""

from __future__ import annotations

import pytest

from s1slurm.eval.engines.base import Engine, EngineConfig, Request
from s1slurm.eval.forcing import Forcing, Sample, run_naive
from s1slurm.eval.records import BudgetSetting
from s1slurm.eval.spec import Delimiters

# the generation prompt of R1 distills and Qwen3 ends with "<think>\n" already
R1_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}"
)
PLAIN_TEMPLATE = R1_TEMPLATE.replace("<think>\\n", "")


@pytest.fixture(scope="module")
def tokenizer():
    from s1slurm.demo.model import build_tokenizer

    texts = ["Two and two make four. Wait, still four. The answer is \\boxed{4}. Final Answer: 4\n"] * 20
    tok = build_tokenizer(texts, 300)
    tok.add_tokens(["<think>", "</think>"], special_tokens=True)
    return tok


class ScriptedR1(Engine):
    """Thinks "Two and two make four." then closes with </think>; after each appended "Wait" thinks
    " still four." and closes again; answers "The answer is \\boxed{4}." after </think>."""

    kind = "scripted"

    def __init__(self, tokenizer) -> None:
        super().__init__(EngineConfig(kind="scripted", model="scripted"))
        self.tokenizer, self.max_model_len = tokenizer, 4096
        self.eos_token_ids = (tokenizer.convert_tokens_to_ids("<|im_end|>"),)
        self.calls: list[list[Request]] = []

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        self.calls.append(requests)
        out = []
        for r in requests:
            text = self.tokenizer.decode(list(r.prompt), skip_special_tokens=False)
            thinking = text.rsplit("<think>", 1)[1]
            if "</think>" in thinking:
                cont = "The answer is \\boxed{4}.<|im_end|>"
            elif thinking.endswith("Wait"):
                cont = ", still four.\n</think>\n\nThe answer is \\boxed{4}.<|im_end|>"
            else:
                cont = "Two and two make four.\n</think>\n\nThe answer is \\boxed{4}.<|im_end|>"
            out.append(self.tokenizer.encode(cont, add_special_tokens=False)[: r.max_tokens])
        return out


def forcing_for(tokenizer, template: str) -> tuple[ScriptedR1, Forcing]:
    tokenizer.chat_template = template
    engine = ScriptedR1(tokenizer)
    forcing = Forcing(
        tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=Delimiters(preset="r1").text(),
        max_answer_tokens=32,
    )
    return engine, forcing


@pytest.mark.parametrize("template", [R1_TEMPLATE, PLAIN_TEMPLATE])
def test_thinking_opens_once_whether_or_not_the_template_opens_it(tokenizer, template):
    _, forcing = forcing_for(tokenizer, template)
    prompt = tokenizer.decode(list(forcing.prompt_ids("What is 2+2?")), skip_special_tokens=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n") and prompt.count("<think>") == 1


def test_the_tags_are_single_tokens_so_the_end_of_thinking_stops_as_an_id(tokenizer):
    _, forcing = forcing_for(tokenizer, R1_TEMPLATE)
    end = tokenizer.convert_tokens_to_ids("</think>")
    assert forcing.single_token_ends and forcing.thinking_stop.token_ids[-1] == end


def test_budget_forcing_and_wait_work_as_in_s1s_format(tokenizer):
    engine, forcing = forcing_for(tokenizer, R1_TEMPLATE)
    samples = [Sample(key=0, prompt=forcing.prompt_ids("What is 2+2?"), seed=0)]
    settings = [
        BudgetSetting(None, method="none"),
        BudgetSetting(None, num_ignore=1, method="ignore"),
        BudgetSetting(3, method="max"),
    ]
    out = run_naive(engine, forcing, samples, settings)[0]
    natural, waited, cut = out["max=none"], out["ignore=1,max=none"], out["max=3"]
    assert natural.thinking_text == "Two and two make four.\n" and natural.thinking.end == "natural"
    assert waited.thinking_text == "Two and two make four.\nWait, still four.\n"
    assert waited.thinking.forced == 1 and waited.thinking.end == "natural"
    assert len(cut.thinking.ids) == 3 and cut.thinking.end == "budget"
    for r in (natural, waited):
        assert r.answer_text == "The answer is \\boxed{4}."
    assert cut.answer_text.startswith("Final Answer:")
    answer_prompts = [
        tokenizer.decode(list(r.prompt), skip_special_tokens=False)
        for call in engine.calls
        for r in call
        if r.stop == forcing.answer_stop
    ]
    assert any(p.endswith("four.\n</think>\n\n") for p in answer_prompts)  # the model's own line
    assert any(p.endswith("\n</think>\n\nFinal Answer:") for p in answer_prompts)  # after a cut
    assert all(p.count("</think>") == 1 and p.count("<think>") == 1 for p in answer_prompts)
