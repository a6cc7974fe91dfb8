"""Meta-SGD: a learned initialisation and one learned learning rate per parameter (Li et al. 2017).

The rates alpha are stored as they are used, unconstrained, as in the paper: a rate may turn
negative or reach zero, which is what lets Meta-SGD learn a direction as well as a step size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.learners.base import Learner, TaskLoss
from metalab.learners.gradient import init_learner
from metalab.learners.optimizers import InnerOpt
from metalab.models.base import Model


def metasgd(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse", *,
            inner_opt: InnerOpt = "sgd") -> Learner:
    """Meta-parameters ``{"init": theta, "lr": alpha}``; inner step phi <- phi - alpha * grad
    (or ``inner_opt``'s direction scaled by alpha). Every alpha starts at ``inner_lr``."""
    return init_learner(
        "metasgd", model, loss, lambda meta: meta["lr"], inner_opt=inner_opt,
        extras=lambda key, theta: {"lr": jax.tree.map(lambda p: jnp.full_like(p, inner_lr),
                                                      theta)},
    )
