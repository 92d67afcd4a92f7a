#!/usr/bin/env bash
# Training throughput on one GPU: SmolLM2-135M-Instruct (all 30 layers), bf16, DeepSpeed ZeRO-3,
# through the real training stage (s1slurm submit train, local executor, torchrun with 1 rank).
# Prints tokens/s per GPU, model FLOPs utilisation (MFU) and peak GPU memory.
#
#   benchmarks/gpu_train.sh                 # 50 steps, block 2048, micro batch 8, no accumulation
#   STEPS=100 BLOCK=4096 MICRO=4 benchmarks/gpu_train.sh
#   LIGER=true GC=true benchmarks/gpu_train.sh  # the memory options of the 32B specs
# Also prints the planner's predicted peak (s1slurm plan train) beside the measured one.
#
# Environment: STEPS (50), BLOCK (2048), MICRO (8), GC (false: gradient checkpointing),
# LIGER (false: Liger's fused linear cross-entropy, needs s1slurm[gpu]), ATTN (sdpa; or flash_attention_2),
# PEAK_TFLOPS (989: H100/H200 SXM dense bf16; 312 for A100), ALLOW_CPU=1 (check the script on a CPU),
# DATA (an s1-format or OlympiadBench-style .jsonl; default ../shared/data/pool/olympiadbench.jsonl),
# KEEP=1 keeps the work folder. Needs: pip install 's1slurm[train,eval-cpu]' (for the SmolLM2 folder).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS="${STEPS:-50}"
BLOCK="${BLOCK:-2048}"
MICRO="${MICRO:-8}"
GC="${GC:-false}"
LIGER="${LIGER:-false}"
ATTN="${ATTN:-sdpa}"
PEAK_TFLOPS="${PEAK_TFLOPS:-989}"
DATA="${DATA:-$REPO/../shared/data/pool/olympiadbench.jsonl}"
WORK="$(mktemp -d -t s1slurm-gpu-train.XXXXXX)"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$WORK"' EXIT

ALLOW_CPU="${ALLOW_CPU:-0}" python - <<'EOF'
import os, sys, torch
if not torch.cuda.is_available():
    if os.environ["ALLOW_CPU"] != "1":
        sys.exit("gpu_train.sh: no CUDA GPU visible to torch (ALLOW_CPU=1 runs it on the CPU, to check the script)")
    print("no GPU: running on the CPU (MFU against PEAK_TFLOPS is meaningless here)")
else:
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
EOF

MODEL="$(python -c 'from s1slurm.models.smollm2 import smollm2_folder; print(smollm2_folder())')"
# Field mapping: s1K columns when present, else OlympiadBench's (question, solution, final_answer).
if head -n 1 "$DATA" | grep -q '"thinking_trajectories"'; then
    FIELDS="s1k"
else
    FIELDS="{question: question, trace: solution, answer: final_answer}"
fi

cat > "$WORK/cluster.yaml" <<EOF
default: gpu
profiles:
  gpu: {executor: local, gpus_per_node: 1}
EOF
cat > "$WORK/bench.yaml" <<EOF
stage: train
name: gpu-train-bench
model: $MODEL
data: {source: $DATA, fields: $FIELDS}
recipe:
  max_steps: $STEPS
  global_batch_size: $MICRO
  micro_batch_size: $MICRO
  learning_rate: 1.0e-5
  block_size: $BLOCK
  precision: bf16
  gradient_checkpointing: $GC
memory:
  liger_kernel: $LIGER
  attn_implementation: $ATTN
checkpoint: {every_steps: 100000, keep_last: 1}   # only the final checkpoint
deepspeed: $REPO/templates/deepspeed/zero3.json
runs_dir: $WORK/runs
EOF

cd "$WORK"
# The planner's estimate of this very spec (it assumes every micro-batch fills the block).
s1slurm --cluster cluster.yaml plan train --config bench.yaml | tee "$WORK/plan.txt" | grep "planned peak" || true
s1slurm --cluster cluster.yaml submit train --config bench.yaml
RUN="$(ls -d "$WORK"/runs/train-*)"

python - "$RUN" "$MODEL" "$PEAK_TFLOPS" "$BLOCK" "$WORK/plan.txt" <<'EOF'
import json, math, re, sys
from pathlib import Path
from safetensors import safe_open

run, model, peak_tflops, block = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
planned = re.search(r"planned peak .*?([\d.]+) GB", Path(sys.argv[5]).read_text())
root = next((run / "outputs").iterdir())
summary = json.loads((root / "train_summary.json").read_text())
if summary["steps"] is None:
    sys.exit(f"no summary in {root}")
config = json.loads((model / "config.json").read_text())
with safe_open(str(model / "model.safetensors"), "pt") as f:
    n_params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # tied head counted once
steps = [json.loads(line) for line in (root / "steps.jsonl").read_text().splitlines()]
# Steady state: from the 6th logged step on (the first steps include warm-up and allocator growth).
a, b = (steps[5], steps[-1]) if len(steps) > 10 else (steps[0], steps[-1])
steady = (b["tokens_seen"] - a["tokens_seen"]) / (b["time"] - a["time"])
seq = summary["dataset_tokens"] / max(summary["used_examples"], 1)  # mean tokens per sequence
# PaLM-style model FLOPs per token: 6 N (dense, forward + backward) + 12 L h s (attention).
flops_per_token = 6 * n_params + 12 * config["num_hidden_layers"] * config["hidden_size"] * seq
for name, tps in (("whole run", summary["tokens_per_s_per_gpu"]), ("steady state", steady)):
    print(f"{name:>13}: {tps:10.0f} tokens/s per GPU, MFU {100 * tps * flops_per_token / (peak_tflops * 1e12):5.1f}%")
print(f"       params: {n_params / 1e6:.1f} M, mean sequence {seq:.0f} tokens (block {block}), "
      f"{summary['steps']} steps, peak GPU memory {summary['peak_gpu_memory_gb']} GiB (rank 0, allocated)")
measured = summary["peak_gpu_memory_gb"]
if planned and measured:
    gb = measured * 2**30 / 1e9  # the planner counts GB of 1e9 bytes
    print(f" peak memory: measured {gb:.2f} GB, planner {float(planned.group(1)):.2f} GB "
          f"({100 * (float(planned.group(1)) / gb - 1):+.0f}%; the planner assumes full-block micro-batches)")
print(f"loss: {summary['loss_curve'][0]['loss']:.3f} -> {summary['loss_curve'][-1]['loss']:.3f}; run folder {run}")
# throughput means something on a GPU, with sequences near the block, after warm-up steps
gpu = measured is not None
print(f"workload check: {'a GPU' if gpu else 'no GPU (CPU run)'}, {len(steps)} logged steps, mean sequence "
      f"{seq:.0f} of block {block} tokens: "
      + ("OK" if gpu and len(steps) > 10 and seq >= 0.5 * block else "NOT EXERCISED"))
EOF
