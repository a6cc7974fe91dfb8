"""Experiments: sinusoid."""
