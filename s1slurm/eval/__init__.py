"""Evaluation under budget forcing: budgets, engines, benchmarks, grading and the eval stage."""
