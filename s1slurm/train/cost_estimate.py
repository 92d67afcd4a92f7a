"""What a training spec costs per GPU before it queues: memory, step time, checkpoints, USR2 margin.

The formulas are the worked estimate of docs/training.md, written once here;
``s1slurm plan train`` and ``submit --dry-run`` print them with their assumptions, and ``submit``
refuses a spec whose peak exceeds the profile's ``gpu_memory_gb`` or whose ``signal_delay_s`` cannot
cover one step plus a checkpoint. Everything is arithmetic on the model's ``config.json``: no torch,
no GPU. Sizes are in GB = 1e9 bytes, as in docs/training.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from s1slurm.train.recipe import total_steps

# Saved bf16 values per token and layer without gradient checkpointing, in units of the hidden size h
# (docs/training.md): norms 4, attention with rotary and output projection 3.6; the SwiGLU MLP adds 4 x I / h.
_NORM_ATTN_VALUES = 7.6
# One layer recomputed during the backward pass, with its gradient temporaries (docs/training.md: ~14 GB at 32k).
_RECOMPUTE_FACTOR = 1.5
# A resumable ZeRO-3 checkpoint: DeepSpeed's optimizer shards hold the fp32 master weights and AdamW's
# m and v (12 bytes per parameter); the model-state files of ZeRO-3 are placeholders, ~0 bytes.
CHECKPOINT_BYTES_PER_PARAM = 12
# The longest sequence of a typical s1K step: what the paper's 315 steps in 26 minutes on 16 H100
# imply at 40% MFU (docs/training.md, "Step time").
TYPICAL_LONGEST_TOKENS = 7000
# Training examples of the datasets the shipped specs name (both have 1000 questions).
KNOWN_DATASET_SIZES = {"simplescaling/s1k": 1000, "simplescaling/s1k-1.1": 1000}
# Part of a GPU a plan may fill and still count as fitting with headroom (the shipped specs keep 10%).
HEADROOM = 0.10
GB = 1e9


@dataclass(frozen=True)
class ModelShape:
    """The parts of a decoder's ``config.json`` the estimate needs."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool = False
    max_position_embeddings: int | None = None
    head_dim: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        """From a ``config.json`` (nested ``text_config`` of multimodal models is read too)."""
        c = config.get("text_config") or config
        return cls(
            hidden_size=int(c["hidden_size"]),
            intermediate_size=int(c["intermediate_size"]),
            num_hidden_layers=int(c["num_hidden_layers"]),
            num_attention_heads=int(c["num_attention_heads"]),
            num_key_value_heads=int(c.get("num_key_value_heads") or c["num_attention_heads"]),
            vocab_size=int(c["vocab_size"]),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", c.get("tie_word_embeddings", False))),
            max_position_embeddings=c.get("max_position_embeddings"),
            head_dim=c.get("head_dim"),
        )

    @property
    def dim_per_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def layer_parameters(self) -> int:
        """Attention (q, k, v with biases, o) + SwiGLU MLP + two norms of one layer."""
        h, d = self.hidden_size, self.dim_per_head
        q, kv = self.num_attention_heads * d, self.num_key_value_heads * d
        attention = h * q + 2 * h * kv + q * h + q + 2 * kv
        return attention + 3 * h * self.intermediate_size + 2 * h

    @property
    def parameters(self) -> int:
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        return self.num_hidden_layers * self.layer_parameters + embeddings + self.hidden_size


# config.json shapes of models people train with this recipe, so that planning works offline.
KNOWN_SHAPES: dict[str, ModelShape] = {
    "qwen/qwen2.5-32b": ModelShape(5120, 27648, 64, 40, 8, 152064, False, 32768),
    "qwen/qwen2.5-14b": ModelShape(5120, 13824, 48, 40, 8, 152064, False, 32768),
    "qwen/qwen2.5-7b": ModelShape(3584, 18944, 28, 28, 4, 152064, False, 32768),
    "qwen/qwen2.5-72b": ModelShape(8192, 29568, 80, 64, 8, 152064, False, 32768),
    "huggingfacetb/smollm2-135m": ModelShape(576, 1536, 30, 9, 3, 49152, True, 8192),
    "huggingfacetb/smollm2-1.7b": ModelShape(2048, 8192, 24, 32, 32, 49152, True, 8192),
}


def known_shape(model: str) -> ModelShape | None:
    """The built-in shape of a hub id (``-Instruct`` variants share their base model's shape)."""
    key = model.lower().removesuffix("-instruct")
    return KNOWN_SHAPES.get(key)


@dataclass(frozen=True)
class Layout:
    """What the estimate needs of the job's layout (from ``recipe.Layout`` and the spec)."""

    nodes: int
    gpus_per_node: int
    world_size: int
    sequence_parallel: int
    micro_batch: int
    accumulation: int

    @property
    def data_parallel(self) -> int:
        return self.world_size // self.sequence_parallel


@dataclass
class Line:
    """One line of the breakdown: what, how, how much."""

    item: str
    formula: str
    gb: float


@dataclass
class Estimate:
    """The plan of one spec on one layout."""

    model: str
    source: str  # where the shape came from
    shape: ModelShape
    layout: Layout
    block_size: int
    fixed: list[Line] = field(default_factory=list)
    activations: list[Line] = field(default_factory=list)
    loss: Line | None = None
    peak_gb: float = 0.0
    peak_at: str = ""
    tokens_per_step: int = 0
    step_s_worst: float = 0.0
    step_s_typical: float = 0.0
    zero3_comm_s: float = 0.0
    steps: int | None = None
    examples: int | None = None
    examples_source: str = ""
    total_s: float | None = None
    checkpoint_gb: float = 0.0
    checkpoint_s: float = 0.0
    margin_s: float = 0.0
    assumptions: list[str] = field(default_factory=list)

    @property
    def fixed_gb(self) -> float:
        return sum(line.gb for line in self.fixed)


def _next_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def estimate(
    spec: Any,
    shape: ModelShape,
    layout: Layout,
    *,
    model: str,
    source: str,
    max_live_parameters: float = 1e9,
    examples: int | None = None,
    examples_source: str = "",
    stop_margin_s: float | None = None,
) -> Estimate:
    """The worked estimate (docs/training.md) for ``spec`` (a TrainSpec) on ``layout``."""
    r, m, a = spec.recipe, spec.memory, spec.planner
    P, n, h, V, L = (
        shape.parameters,
        layout.world_size,
        shape.hidden_size,
        shape.vocab_size,
        shape.num_hidden_layers,
    )
    s = r.block_size
    s_local = math.ceil(s / layout.sequence_parallel)  # Ulysses: each GPU holds 1/sp of the sequence
    tokens = s_local * r.micro_batch_size
    e = Estimate(model=model, source=source, shape=shape, layout=layout, block_size=s)
    on = "CPU (offloaded)"
    e.fixed = [
        Line(
            "bf16 weights (ZeRO-3 shard)",
            f"2 P / {n}" + (f" -> {on}" if m.offload_parameters else ""),
            0.0 if m.offload_parameters else 2 * P / n / GB,
        ),
        Line("bf16 gradients (shard)", f"2 P / {n}", 2 * P / n / GB),
        Line(
            "fp32 master weights + AdamW m, v (shard)",
            f"12 P / {n}" + (f" -> {on}" if m.offload_optimizer else ""),
            0.0 if m.offload_optimizer else 12 * P / n / GB,
        ),
        Line(
            "ZeRO-3 working set: live gathered parameters + the largest module (embedding/output layer)",
            f"2 B x min({max_live_parameters:.0e}, P) + 2 B x V x h",
            (2 * min(max_live_parameters, P) + 2 * V * h) / GB,
        ),
        Line("CUDA context, NCCL buffers, allocator fragmentation", "assumed", a.overhead_gb),
    ]
    per_token_layer = (_NORM_ATTN_VALUES * h + 4 * shape.intermediate_size) * 2  # bytes
    one_layer = per_token_layer * tokens / GB
    if r.gradient_checkpointing:
        kept = tokens * h * 2 * L / GB
        e.activations = [
            Line(
                "activations with gradient checkpointing: each layer's input kept",
                f"{tokens} x h x 2 B x {L}",
                kept,
            ),
            Line(
                "one layer recomputed in the backward pass, with gradient temporaries",
                f"(7.6 h + 4 I) x 2 B x {tokens} x {_RECOMPUTE_FACTOR}",
                one_layer * _RECOMPUTE_FACTOR,
            ),
        ]
    else:
        e.activations = [
            Line(
                "activations without gradient checkpointing",
                f"(7.6 h + 4 I) x 2 B x {tokens} tokens x {L} layers",
                one_layer * L,
            )
        ]
    if m.liger_kernel:
        chunk = _next_pow2(math.ceil(tokens / math.ceil(V / h)))
        e.loss = Line(
            "logits and loss, fused (Liger): fp32 logits and their gradient for one chunk, input grad",
            f"2 x {chunk} x V x 4 B + {tokens} x h x 4 B",
            (2 * chunk * V * 4 + tokens * h * 4) / GB,
        )
    else:
        e.loss = Line(
            "logits and loss, unfused: bf16 logits, fp32 upcast, fp32 log-softmax",
            f"{tokens} x V x (2 + 4 + 4) B",
            tokens * V * 10 / GB,
        )
    kept_gb = e.activations[0].gb if r.gradient_checkpointing else 0.0
    dense = e.fixed_gb + sum(line.gb for line in e.activations)
    at_loss = e.fixed_gb + (kept_gb if r.gradient_checkpointing else e.activations[0].gb) + e.loss.gb
    e.peak_gb, e.peak_at = max((dense, "the backward pass of a layer"), (at_loss, "the loss"))

    # Time: FLOPs per token 8 P with checkpointing (forward, recomputed forward, backward), else 6 P;
    # causal attention adds 2 L^2 h per layer and forward pass. Sequence parallelism splits a
    # sequence's FLOPs over its GPUs; a rank runs `accumulation` micro-batches one after the other.
    passes = 4 if r.gradient_checkpointing else 3
    flops_per_s = a.peak_tflops * 1e12 * a.mfu

    def step_seconds(longest: int) -> float:
        flops = 2 * passes * P * longest + 2 * passes * L * longest**2 * h
        return flops * r.micro_batch_size / layout.sequence_parallel / flops_per_s * layout.accumulation

    e.tokens_per_step = s * r.global_batch_size
    e.step_s_worst = step_seconds(s)
    typical = min(a.typical_longest_tokens or TYPICAL_LONGEST_TOKENS, s)
    e.step_s_typical = step_seconds(typical)
    gathers = passes - 1  # all-gathers of the bf16 weights per micro-batch (forward, recompute, backward)
    e.zero3_comm_s = (gathers + 1) * 2 * P / GB / a.interconnect_gb_s_per_gpu * layout.accumulation
    e.examples, e.examples_source = examples, examples_source
    if examples:
        e.steps = total_steps(
            examples, r.epochs, layout.data_parallel, r.micro_batch_size, layout.accumulation, r.max_steps
        )
        e.total_s = e.steps * max(e.step_s_typical, e.zero3_comm_s)
    e.checkpoint_gb = (CHECKPOINT_BYTES_PER_PARAM + (2 if spec.checkpoint.with_weights else 0)) * P / GB
    write_s = e.checkpoint_gb / (a.checkpoint_write_gb_s_per_node * layout.nodes)
    checksum_s = e.checkpoint_gb / n / a.checksum_gb_s_per_rank
    e.checkpoint_s = write_s + checksum_s
    margin = spec.launch.stop_margin_s if stop_margin_s is None else stop_margin_s
    e.margin_s = e.step_s_worst + e.checkpoint_s + margin
    e.assumptions = [
        f"model shape from {source}; P = {P / 1e9:.2f} B parameters",
        f"{layout.nodes} node(s) x {layout.gpus_per_node} GPU(s), ZeRO-3 over {n} ranks, sequence parallel "
        f"{layout.sequence_parallel}, {layout.data_parallel} data-parallel rank(s), micro batch "
        f"{r.micro_batch_size}, accumulation {layout.accumulation}",
        f"one sequence of the full block ({s} tokens) per micro-batch: the worst case",
        f"step time at {a.mfu:.0%} MFU of {a.peak_tflops:.0f} TFLOP/s per GPU; typical step: longest sequence "
        f"{typical} tokens",
        f"checkpoint: {CHECKPOINT_BYTES_PER_PARAM}{' + 2' if spec.checkpoint.with_weights else ''} bytes/parameter "
        f"written at {a.checkpoint_write_gb_s_per_node:g} GB/s per node, checksummed at "
        f"{a.checksum_gb_s_per_rank:g} GB/s per rank",
        f"ZeRO-3 traffic at {a.interconnect_gb_s_per_gpu:g} GB/s per GPU (hidden behind compute by overlap_comm "
        "for long sequences)",
        f"stop margin {margin:g} s kept for the requeue and the exit (launch.stop_margin_s)",
    ]
    return e


def fits(e: Estimate, gpu_memory_gb: float) -> bool:
    """Whether the planned peak stays under the GPU's memory (no headroom asked)."""
    return e.peak_gb <= gpu_memory_gb


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render(
    e: Estimate,
    *,
    gpu_memory_gb: float | None = None,
    signal_delay_s: float | None = None,
    width: int | None = None,
) -> str:
    """The plan as text: the memory table, times, checkpoint, margin and the assumptions.

    ``width``: lay the memory table out for a terminal that many columns wide (items and formulas
    wrap); None: one line per row, for messages and logs.
    """
    out = [f"Training plan: {e.model}, block {e.block_size}, per GPU", ""]
    verdict = ""
    if gpu_memory_gb:
        room = 1 - e.peak_gb / gpu_memory_gb
        verdict = f" of {gpu_memory_gb:g} GB: " + (
            f"fits, {room:.0%} headroom" if room >= 0 else f"does NOT fit ({-room:.0%} over)"
        )
    rows = [
        *((x.item, x.gb, f"   ({x.formula})") for x in e.fixed),
        ("fixed part", e.fixed_gb, ""),
        *((x.item, x.gb, f"   ({x.formula})") for x in [*e.activations, e.loss] if x is not None),
        (f"planned peak (at {e.peak_at})", e.peak_gb, verdict),
    ]
    if width is None:
        out += [f"  {item:<96} {gb:7.1f} GB{rest}" for item, gb, rest in rows]
    else:
        from rich.markup import escape

        from s1slurm.core.table_fit import FittedTable, plain_text  # rich: only for a terminal

        table = FittedTable(box=None, pad_edge=False, show_header=False)
        table.add_column("item", wrap=True, min_width=24)
        table.add_column("GB", justify="right")
        table.add_column("how", wrap=True, min_width=16)
        for item, gb, rest in rows:
            table.add_row(escape(item), f"{gb:.1f} GB", escape(rest.strip()))
        out += ["  " + line.rstrip() for line in plain_text(table, width - 2).splitlines()]
    out.append("")
    out.append(f"  tokens per step (global batch x block): {e.tokens_per_step}")
    out.append(
        f"  step time: {_duration(e.step_s_worst)} when a step's longest sequence fills the block, "
        f"{_duration(e.step_s_typical)} typical; ZeRO-3 traffic {_duration(e.zero3_comm_s)} per step"
    )
    if e.steps is not None:
        out.append(
            f"  steps: {e.steps} ({e.examples} examples from {e.examples_source}); total for the epochs "
            f"~{_duration(e.total_s or 0)} of steps (plus loading and the final 16-bit save)"
        )
    else:
        out.append("  steps: unknown (set planner.examples to count them)")
    out.append(
        f"  checkpoint: {e.checkpoint_gb:.0f} GB ({e.checkpoint_gb / e.layout.world_size:.1f} GB per rank), "
        f"~{_duration(e.checkpoint_s)} to write, fsync and checksum"
    )
    needed = (
        f"  USR2 / preemption margin needed: one step + a checkpoint + the stop margin = {e.margin_s:.0f} s"
    )
    if signal_delay_s is not None:
        needed += f"; signal_delay_s is {signal_delay_s:g} s: " + (
            "enough" if signal_delay_s >= e.margin_s else "NOT enough"
        )
    out.append(needed)
    out.append("")
    out.append("  assumptions:")
    out.extend(f"    - {text}" for text in e.assumptions)
    return "\n".join(out)
