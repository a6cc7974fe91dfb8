"""Experiments: effort."""
