"""Experiments: where_to_learn."""
