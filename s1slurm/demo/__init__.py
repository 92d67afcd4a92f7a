"""``s1slurm demo``: the s1 recipe in miniature, from nothing but the installed package.

:mod:`.tasks` (the problems and their worked traces), :mod:`.data` (the pool and the held-out
evaluation set as JSON Lines), :mod:`.model` (a tiny Llama and its own tokenizer, as a Hugging Face
folder), :mod:`.specs` (sizes and the job specs), :mod:`.dashboard` (the live table) and
:mod:`.run` (the orchestration). Nothing is done at import.
"""
