"""Experiments: fewshot."""
