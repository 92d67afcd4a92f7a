"""Supervised fine-tuning (the s1 SFT recipe) as multi-node DeepSpeed ZeRO-3 jobs.

Modules, each importable without torch unless it says otherwise:

- ``spec``: the ``jobs/train-*.yaml`` model (``TrainSpec``);
- ``data``: loading s1K-style records, turning them into chats, tokenizing with the loss mask;
- ``recipe``: batch arithmetic (gradient accumulation, steps) and the layout of one job;
- ``deepspeed``: rendering the ZeRO-3 template;
- ``paths``: every file a training run writes (one paths object);
- ``checkpoints``: atomic checkpoints, rotation, finding the newest complete one;
- ``launcher``: the per-node supervisor that starts ``torchrun`` (or one rank) and handles USR2;
- ``worker`` (torch): what each rank runs (the transformers Trainer);
- ``summary``: ``train_summary.json``.
"""
