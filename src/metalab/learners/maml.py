"""MAML: a learned initialisation adapted by a fixed inner optimiser (Finn et al. 2017)."""

from __future__ import annotations

from metalab.learners.base import Learner, TaskLoss
from metalab.learners.gradient import init_learner
from metalab.learners.optimizers import InnerOpt
from metalab.models.base import Model


def maml(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse", *,
         inner_opt: InnerOpt = "sgd") -> Learner:
    """Meta-parameters ``{"init": theta}``; inner step phi <- phi - inner_lr * grad (plain
    SGD) or ``inner_opt``'s direction (an optax transformation) at rate ``inner_lr``."""
    return init_learner("maml", model, loss, inner_lr, inner_opt=inner_opt)
