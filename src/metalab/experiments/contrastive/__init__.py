"""Experiments: contrastive meta-learning (Zucchet et al. 2022)."""
