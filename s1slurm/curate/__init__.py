"""Curation: the s1K pipeline (59K candidates -> 1K) as steps that each read the previous step's
dataset and write their own into one curation folder.

collect -> decontaminate -> traces -> attempts -> domains -> select. One module per concern:
:mod:`.spec` (the ``jobs/curate-*.yaml`` model; :mod:`.source_spec` its sources), :mod:`.store`
(the curation folder), :mod:`.sources` (collect), :mod:`.ngrams` and :mod:`.neardup`
(decontamination; :mod:`.decontaminate_table` for ``s1slurm decontaminate`` on a user's table),
:mod:`.traces`, :mod:`.attempts`, :mod:`.domains` (model steps; ``msc2020.json`` the areas),
:mod:`.quality` and :mod:`.select` (selection), :mod:`.reports` (what a person audits). Nothing is
done at import.
"""
