"""Fixtures of the curation tests (the 2-layer SmolLM2 of the training tests, shared)."""

from tests.train.conftest import small_model  # noqa: F401  (a fixture, used by name)
