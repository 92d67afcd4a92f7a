"""Supervised fine-tuning (the s1 SFT recipe) as multi-node DeepSpeed ZeRO-3 jobs.

Modules (only ``trainer`` and what ``worker`` imports at run time need torch):

- ``spec``: the ``jobs/train-*.yaml`` model (``TrainSpec``);
- ``data``: s1K-style records -> chats -> token ids with the loss mask on the assistant turn;
- ``recipe``: batch arithmetic (gradient accumulation, steps) and the process layout;
- ``deepspeed``: reading, checking and rendering the ZeRO-3 template;
- ``job_plan``: everything derived from a spec and its profile (``TrainPlan``);
- ``cost_estimate``: the memory, time and checkpoint estimate (the formulas of docs/training.md);
  ``estimate_inputs``: its inputs (the model's shape, the number of examples); ``options``: checks of
  the memory options;
- ``requeue``: which warning a signal is, the ranks' grace, ``scontrol requeue``;
- ``paths``: every file a training run writes (one paths object);
- ``checkpoints``: atomic checkpoints, rotation, the newest complete one;
- ``supervisor``: the per-node torchrun supervisor (``torchrun`` or one rank per task, the
  rendezvous, stop requests);
- ``worker``: what each rank runs; ``trainer``: the transformers Trainer with s1slurm's callbacks;
- ``summary``: attempt records, requeue counters and ``train_summary.json``.

The evaluation submitted after a successful training (``eval_after``) is chained by the stage
(:mod:`s1slurm.stages.train`) with the one ``afterok`` submission of :mod:`s1slurm.stages.chain`.

docs/training.md holds the worked memory and time estimate for Qwen2.5-32B on 16 H100.
"""
