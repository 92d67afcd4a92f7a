"""Typed, validated configuration, loaded once at the edge (the CLI)."""
