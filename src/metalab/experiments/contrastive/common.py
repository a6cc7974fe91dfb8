"""Estimator settings shared by the contrastive meta-learning experiments (their seeds train
as one program through ``runs.stage.train_seeds``)."""

from __future__ import annotations

from typing import Any

from metalab.estimators import ESTIMATORS, Estimator

ESTIMATOR_NAMES = ("contrastive-symmetric", "contrastive", "implicit", "truncated",
                   "first-order")
"""the estimators the comparisons drive, in table order"""


def make_estimator(name: str, *, beta: float, lam: float, nudged_steps: int,
                   nudged_lr_scale: float, truncate: int, task_map: str) -> Estimator:
    """``name`` from ``ESTIMATOR_NAMES`` (or t1-t2, implicit-neumann) at the shared settings;
    Neumann's and T1-T2's step is the learner's inner rate (``Learner.inner_lr``)."""
    settings: dict[str, Any] = {"task_map": task_map}
    if name.startswith("contrastive"):
        settings |= {"beta": beta, "lam": lam, "nudged_steps": nudged_steps,
                     "nudged_lr_scale": nudged_lr_scale}
    elif name in ("implicit", "implicit-neumann", "t1-t2"):
        settings["lam"] = lam
    elif name == "truncated":
        settings["truncate"] = truncate
    return ESTIMATORS[name](**settings)
