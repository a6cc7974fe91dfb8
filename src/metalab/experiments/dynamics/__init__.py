"""Experiments: dynamics."""
