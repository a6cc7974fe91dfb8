"""An estimator by name from one set of shared settings, each estimator taking the ones it
uses: how the contrastive comparisons drive every estimator on the same footing."""

from __future__ import annotations

from typing import Any

from metalab.estimators import ESTIMATORS
from metalab.estimators.base import Estimator


def make_estimator(name: str, *, beta: float, lam: float, nudged_steps: int,
                   nudged_lr_scale: float, truncate: int, task_map: str) -> Estimator:
    """``name`` (a contrastive rule, implicit, implicit-neumann, t1-t2, truncated, or any
    estimator taking only ``task_map``) at the shared settings; Neumann's and T1-T2's step is
    the learner's inner rate (``Learner.inner_lr``)."""
    settings: dict[str, Any] = {"task_map": task_map}
    if name.startswith("contrastive"):
        settings |= {"beta": beta, "lam": lam, "nudged_steps": nudged_steps,
                     "nudged_lr_scale": nudged_lr_scale}
    elif name in ("implicit", "implicit-neumann", "t1-t2"):
        settings["lam"] = lam
    elif name == "truncated":
        settings["truncate"] = truncate
    return ESTIMATORS[name](**settings)
