"""Experiments: estimators."""
