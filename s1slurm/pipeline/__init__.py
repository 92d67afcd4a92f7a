"""Pipelines: stages chained with afterok dependencies, each step's output the next one's input."""
