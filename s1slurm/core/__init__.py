"""Concepts shared by every stage: errors, run directories, shards, atomic files."""
