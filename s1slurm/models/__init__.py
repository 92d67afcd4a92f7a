"""Model folders: resolving hub ids or local folders, and the small SmolLM2 model shipped on PyPI."""
